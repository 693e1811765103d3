"""One trial: build -> check (the correctness gate) -> time -> statistics -> one stored row.

Every failure becomes a status on the Trial (see records.Status); nothing a kernel does can
stop the run for other kernels or devices.
"""
from __future__ import annotations

import json
import math
import secrets
import traceback
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from . import stats
from .build import BuildRequest, build, source_hash
from .config.devices import Device
from .config.toolchains import Toolchain
from .ops import gemm
from .records import Artifact, RunResult, Status, Trial
from .transport.base import Transport, parse_insns
from .workspace import Workspace
from .measure import MeasureOptions


@dataclass(frozen=True)
class Kernel:
    """A kernel to measure: C source implementing the op's ABI function."""

    label: str
    source: bytes
    name: str = "kernel.c"
    allow_blas: bool = False             # the harness's OpenBLAS baseline only
    libs: tuple[Path, ...] = ()

    @classmethod
    def from_file(cls, path: Path, label: str | None = None) -> "Kernel":
        return cls(label=label or path.name, source=path.read_bytes(), name=path.name)

    @property
    def hash(self) -> str:
        return source_hash(self.source)


def _timeouts(device: Device, shape, opts: MeasureOptions, check_flops: float) -> tuple[float, float]:
    """Time limits: the device's fixed allowance plus the work at a conservative floor on
    throughput (device.slow_gflops), so a big shape on a slow device is not cut short while
    an endless loop on a small one is killed within seconds."""
    per_call = gemm.flops(shape) / (device.slow_gflops * 1e9)
    t_check = device.timeout_s + check_flops / (device.slow_gflops * 1e9)
    sample = max(per_call, opts.min_sample_s)
    t_time = device.timeout_s + (2 + opts.warmup) * per_call + 2 * opts.max_time_s + \
        (4 + max(opts.min_samples, 3)) * sample * 1.5
    return t_check, t_time


def _run_failure(run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
    """Classify a run that did not succeed; None if it exited 0."""
    if run.device_error:
        return Status.DEVICE_ERROR, run.device_error
    if run.timed_out:
        return Status.TIMEOUT, f"{phase}: killed after {run.wall_s:.1f} s (time limit on {device.name})"
    if run.signal:
        tail = _tail(run.stderr)
        return Status.CRASH, f"{phase}: killed by {run.signal}" + (f"; stderr: {tail}" if tail else "")
    if run.returncode != 0:
        tail = _tail(run.stderr)
        if run.returncode == 127 and "not found" in run.stderr.lower():
            return Status.DEVICE_ERROR, f"{phase}: cannot run on {device.name}: {tail}"
        return Status.CRASH, f"{phase}: exited with status {run.returncode}" + (f"; stderr: {tail}" if tail else "")
    return None


def _tail(text: str, limit: int = 400) -> str:
    text = "\n".join(l for l in text.strip().splitlines() if not l.startswith("tensorop-insns:"))
    return text[-limit:]


def _json_line(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def build_kernel(ws: Workspace, toolchain: Toolchain, kernel: Kernel, extra_cflags: tuple[str, ...] = ()):
    return build(BuildRequest(source=kernel.source, toolchain=toolchain, name=kernel.name,
                              extra_cflags=extra_cflags, libs=kernel.libs, allow_blas=kernel.allow_blas),
                 ws.builds)


def run_trial(ws: Workspace, device: Device, toolchain: Toolchain | None, transport: Transport, kernel: Kernel,
              shape: tuple[int, int, int], opts: MeasureOptions, *, campaign: str = "",
              extra_cflags: tuple[str, ...] = ()) -> Trial:
    trial = Trial(device=device.name, op=gemm.NAME, shape=tuple(shape), dtype=gemm.DTYPE, kernel=kernel.label,
                  source_hash=kernel.hash, status=Status.DEVICE_ERROR, arch=device.arch, emulated=device.emulated,
                  transport=device.transport, campaign=campaign, flushed=opts.flush,
                  meta={"measure": asdict(opts), "kernel_file": kernel.name, "env": dict(device.env)})
    try:
        if toolchain is None:
            trial.error = f"device {device.name}: toolchain {device.toolchain!r} is not defined in toolchains/"
            return trial
        trial.toolchain = toolchain.name
        b = build_kernel(ws, toolchain, kernel, extra_cflags)
        trial.build_log = b.log
        if b.status is not Status.OK:
            trial.status, trial.error = b.status, b.error
            return trial
        art = b.artifact
        trial.toolchain_version, trial.cflags = art.toolchain_version, art.cflags
        return _check_and_time(device, transport, art, shape, opts, trial)
    except Exception as e:  # a bug of ours must not stop the campaign; keep the evidence
        trial.status = Status.DEVICE_ERROR
        trial.error = f"internal error: {e!r}\n{traceback.format_exc(limit=5)}"
        return trial


def _check_and_time(device: Device, transport: Transport, art: Artifact, shape, opts: MeasureOptions,
                    trial: Trial) -> Trial:
    seeds = [secrets.randbits(62) for _ in range(gemm.SEEDS_NEEDED + 1)]
    cases = gemm.check_cases(shape, seeds[:-1])
    check_flops = sum(gemm.flops((c.M, c.N, c.K)) for c in cases)
    t_check, t_time = _timeouts(device, shape, opts, check_flops)
    trial.meta["seeds"] = seeds

    # 1. correctness gate: every case, fresh seeds; a kernel that fails is never timed
    run = transport.run(art, ["check", *(c.arg() for c in cases)], timeout_s=t_check,
                        fetch=[f"c{i}.bin" for i in range(len(cases))])
    failure = _run_failure(run, device, "check")
    if failure:
        trial.status, trial.error = failure
        trial.command = run.command
        return trial
    worst = 0.0
    for i, case in enumerate(cases):
        raw = run.files.get(f"c{i}.bin")
        if raw is None:
            trial.status, trial.error = Status.DEVICE_ERROR, f"check: output c{i}.bin did not come back"
            return trial
        v = gemm.verify(case, raw)
        worst = max(worst, v.rel_err)
        if not v.ok:
            trial.status, trial.error, trial.max_rel_err = Status.WRONG_ANSWER, v.detail, v.rel_err
            return trial

    # 2. timing run, on fresh inputs whose first output is verified too
    M, N, K = shape
    tcase = gemm.GemmCase.tight(M, N, K, seeds[-1])
    run = transport.run(art, ["time", tcase.arg(), *opts.driver_args()], timeout_s=t_time, fetch=["c0.bin"],
                        count_insns=device.emulated)
    trial.command = run.command
    failure = _run_failure(run, device, "timing run")
    if failure:
        trial.status, trial.error = failure
        return trial
    v = gemm.verify(tcase, run.files.get("c0.bin", b""))
    worst = max(worst, v.rel_err)
    trial.max_rel_err = worst
    if not v.ok:
        trial.status, trial.error = Status.WRONG_ANSWER, "timing run: " + v.detail
        return trial
    out = _json_line(run.stdout)
    if not out or not out.get("samples"):
        trial.status, trial.error = Status.DEVICE_ERROR, f"timing run printed no samples: {_tail(run.stdout)}"
        return trial
    trial.samples = tuple(float(x) for x in out["samples"])
    trial.inner_loops = int(out.get("inner_loops", 0))
    trial.flushed = bool(out.get("flushed", False))
    trial.summary = stats.summarize(trial.samples)
    trial.gflops = gemm.flops(shape) / trial.summary.median / 1e9 if trial.summary.median > 0 else math.inf
    trial.insns = parse_insns(run.stderr) if device.emulated else None
    trial.meta.update({"stop": out.get("stop"), "sampling_s": out.get("sampling_s"), "run_wall_s": run.wall_s,
                       "check_cases": len(cases) + 1})
    trial.status = Status.OK
    return trial
