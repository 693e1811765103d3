"""Local transport: runs on this machine, natively or under the device's runner (QEMU)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..records import Artifact, RunResult
from .base import MAX_CAPTURE, Transport, runner_prefix, signal_name
from .sandbox import Limits, no_network_prefix


class LocalTransport(Transport):
    kind = "local"

    def _prefix(self, count_insns: bool) -> tuple[list[str], str]:
        plugin = self.ws.qemu_plugin if count_insns and self.ws.qemu_plugin.is_file() else None
        prefix = runner_prefix(self.device, self.ws, plugin)
        if prefix and not shutil.which(prefix[0]):
            return prefix, f"runner {prefix[0]!r} not found on this machine (device {self.device.name})"
        return prefix, ""

    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float,
            fetch: list[str] = (), count_insns: bool = False) -> RunResult:
        prefix, problem = self._prefix(count_insns)
        cmd = [*prefix, str(artifact.executable), *args]
        if problem:
            return RunResult(None, "", "", 0.0, command=tuple(cmd), device_error=problem)
        return self._execute(cmd, timeout_s=timeout_s, fetch=fetch, native=not prefix)

    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        return self._execute(list(argv), timeout_s=timeout_s, fetch=(), native=True, sandbox=False)

    def _execute(self, cmd: list[str], *, timeout_s: float, fetch, native: bool,
                 sandbox: bool | None = None) -> RunResult:
        sandbox = self.device.sandbox if sandbox is None else sandbox
        self.ws.scratch.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{self.device.name}-", dir=self.ws.scratch))
        full = [*no_network_prefix(), *cmd] if sandbox else cmd
        limits = Limits(cpu_s=int(timeout_s) + 5, address_space=Limits.address_space if native else None)
        env = {**clean_environ(), **self.device.env}
        out_path, err_path = work / ".stdout", work / ".stderr"
        start = time.monotonic()
        timed_out = False
        try:
            with out_path.open("wb") as out, err_path.open("wb") as err:
                try:
                    proc = subprocess.Popen(full, cwd=work, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            env=env, start_new_session=True,
                                            preexec_fn=limits.apply if sandbox else None)
                except OSError as e:
                    return RunResult(None, "", "", 0.0, command=tuple(cmd),
                                     device_error=f"cannot start {cmd[0]!r} on {self.device.name}: {e}")
                try:
                    rc = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc)
                    rc = None
            wall = time.monotonic() - start
            files = {}
            for name in fetch:
                p = work / name
                if p.is_file():
                    files[name] = p.read_bytes()
            return RunResult(rc, _read(out_path), _read(err_path), wall, timed_out=timed_out,
                             signal=signal_name(rc), files=files, command=tuple(cmd))
        finally:
            shutil.rmtree(work, ignore_errors=True)


# Variables that change what a BLAS or OpenMP runtime does. Shells and CI images set them for
# their own reasons (this machine's image sets OPENBLAS_CORETYPE=Haswell, which halves OpenBLAS
# on an AVX-512 CPU), so runs do not inherit them: a device sets them explicitly in devices.yaml
# `env`, where they are recorded with every trial.
RUNTIME_PREFIXES = ("OPENBLAS_", "GOTO_", "OMP_", "GOMP_", "KMP_", "MKL_", "BLIS_")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(RUNTIME_PREFIXES)}


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group, so nothing the kernel started keeps running."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _read(path: Path) -> str:
    with path.open("rb") as f:
        data = f.read(MAX_CAPTURE)
    return data.decode("utf-8", errors="replace")
