"""Run a built artifact once under the device's QEMU with the tensorop plugin and bring back
the plugin's record (fd 3) and block profile. Isolated here until the transport grows
`run(..., plugin=...)` (harness/transport/base.py); then this becomes one transport call.

LD_BIND_NOW=1 keeps the dynamic linker's lazy symbol resolution (a one-time cost, absent from
steady-state timings) out of the counted region. The driver runs `time <case> max_samples=1 min_samples=1 warmup=0 min_sample_s=0`: exactly one
call inside the counted region (and two uncounted ones after it).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..config.devices import Device
from ..ops import gemm
from ..records import Artifact
from ..transport.base import is_qemu, runner_prefix
from ..transport.local import _kill_group, clean_environ
from ..workspace import Workspace

BLOCKS_FILE = "blocks.txt"
DRIVER_ARGS = ["max_samples=1", "min_samples=1", "warmup=0", "min_sample_s=0"]


@dataclass
class ProfileRun:
    ok: bool
    error: str = ""
    record: dict | None = None        # the plugin's fd= JSON line
    blocks: str = ""                  # the block profile
    output: bytes = b""               # c0.bin, the verified output of the counted call
    wall_s: float = 0.0
    command: tuple[str, ...] = ()

    @property
    def regions(self) -> int:
        return int((self.record or {}).get("regions", 0))


def profile_artifact(ws: Workspace, device: Device, artifact: Artifact, shape: tuple[int, int, int], *,
                     seed: int = 1, timeout_s: float = 300.0) -> ProfileRun:
    prefix = runner_prefix(device, ws)
    if not prefix or not is_qemu(prefix[0]):
        return ProfileRun(False, f"device {device.name} has no QEMU runner to profile under")
    if not shutil.which(prefix[0]):
        return ProfileRun(False, f"runner {prefix[0]!r} not found on this machine")
    lib = ws.qemu_plugin
    if not lib.is_file():
        return ProfileRun(False, f"QEMU plugin {lib} not built; run `make setup`")
    M, N, K = shape
    case = gemm.GemmCase.tight(M, N, K, seed)
    cmd = [*prefix, str(artifact.executable), "time", case.arg(), *DRIVER_ARGS]
    ws.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"profile-{device.name}-", dir=ws.scratch))
    try:
        chan = (work / ".channel").open("w+b")
        err = (work / ".stderr").open("w+b")
        # the plugin writes its record to an inherited descriptor of ours (whatever number it has)
        cmd[1:1] = ["-plugin", f"{lib},fd={chan.fileno()},blocks={BLOCKS_FILE}"]
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, env={**clean_environ(), **device.env, "LD_BIND_NOW": "1"},
                                    start_new_session=True,
                                    pass_fds=(chan.fileno(),))
        except OSError as e:
            return ProfileRun(False, f"cannot start {cmd[0]}: {e}", command=tuple(cmd))
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return ProfileRun(False, f"profiling run timed out after {timeout_s:.0f} s", command=tuple(cmd))
        wall = time.monotonic() - start
        chan.seek(0)
        record = None
        for line in chan.read().decode(errors="replace").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("tensorop") == "plugin":
                record = obj
        err.seek(0)
        stderr = err.read(4000).decode(errors="replace")
        if rc != 0:
            return ProfileRun(False, f"profiling run exited with {rc}: {stderr[-400:]}", record=record,
                              wall_s=wall, command=tuple(cmd))
        if record is None:
            return ProfileRun(False, "the plugin wrote no record on its fd", wall_s=wall, command=tuple(cmd))
        bpath = work / BLOCKS_FILE
        blocks = bpath.read_text() if bpath.is_file() else ""
        out = (work / "c0.bin").read_bytes() if (work / "c0.bin").is_file() else b""
        ok = bool(blocks) and record.get("regions", 0) > 0
        return ProfileRun(ok, "" if ok else "no block profile / no counted region", record=record,
                          blocks=blocks, output=out, wall_s=wall, command=tuple(cmd))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_artifact(ws: Workspace, device: Device, artifact: Artifact, shape, *, seed: int = 1):
    """Profile + model: (ModelResult | None, ProfileRun). Verifies the counted call's output."""
    from .cycles import ModelResult, model_from_blocks
    run = profile_artifact(ws, device, artifact, tuple(shape), seed=seed)
    if not run.ok:
        return None, run
    M, N, K = shape
    v = gemm.verify(gemm.GemmCase.tight(M, N, K, seed), run.output)
    if not v.ok:
        run.ok, run.error = False, "wrong answer under QEMU: " + v.detail
        return None, run
    return model_from_blocks(run.blocks, run.regions, device, cache_dir=ws.cache / "mca"), run
