"""Local transport: runs on this machine, natively or under the device's runner (QEMU), every
run of an artifact inside the bubblewrap sandbox (sandbox/bubblewrap.py) unless the device says
`sandbox: false`."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.core.records import Artifact, RunResult
from harness.transport.base import MAX_CAPTURE, Transport, runner_prefix, signal_name
from harness.sandbox.gpu import gpu_sandbox_args
from harness.sandbox.bubblewrap import Limits, SandboxUnavailable, runner_paths, sandbox_prefix

CHANNEL_FD = 3
MAX_CHANNEL = 64 << 20


class LocalTransport(Transport):
    kind = "local"

    def _prefix(self, plugin: tuple[str, ...] | None) -> tuple[list[str], str]:
        spec = None
        if plugin is not None and self.ws.qemu_plugin.is_file():
            spec = ",".join([str(self.ws.qemu_plugin), *plugin])
        prefix = runner_prefix(self.device, self.ws, spec)
        if prefix and not shutil.which(prefix[0]):
            return prefix, f"runner {prefix[0]!r} not found on this machine (device {self.device.name})"
        return prefix, ""

    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float,
            fetch: list[str] = (), stdin: bytes = b"", plugin: tuple[str, ...] | None = None) -> RunResult:
        prefix, problem = self._prefix(plugin)
        cmd = [*prefix, str(artifact.executable), *args]
        if problem:
            return RunResult(None, "", "", 0.0, command=tuple(cmd), device_error=problem)
        # a library shipped beside the executable (a CUDA build's, by SONAME) is under the bound
        # directory already: its target is bound, not the link (bwrap cannot mount over it)
        libs = [Path(p).resolve() if Path(p).parent == artifact.executable.parent else p
                for p in artifact.runtime_libs]
        # a vendor library loads its siblings (cuBLAS its Lt, cuDNN its engines) by name from its own
        # directory: that directory is readable and searched, after the device's own LD_LIBRARY_PATH
        lib_dirs = list(dict.fromkeys(str(Path(p).parent) for p in libs))
        readable = [artifact.executable.parent, *libs, *lib_dirs, *runner_paths(prefix)]
        return self._execute(cmd, timeout_s=timeout_s, fetch=fetch, native=not prefix, stdin=stdin,
                             readable=readable, gpu=self.device.cuda, lib_dirs=lib_dirs)

    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        return self._execute(list(argv), timeout_s=timeout_s, fetch=(), native=True, sandbox=False)

    def _execute(self, cmd: list[str], *, timeout_s: float, fetch, native: bool, stdin: bytes = b"",
                 readable=(), sandbox: bool | None = None, gpu: bool = False, lib_dirs=()) -> RunResult:
        """gpu: a CUDA device's run: the GPU's device nodes and driver files in the sandbox, no
        address-space limit (harness/sandbox/gpu.py)."""
        sandbox = self.device.sandbox if sandbox is None else sandbox
        self.ws.scratch.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{self.device.name}-", dir=self.ws.scratch))
        try:
            full = cmd
            if sandbox:
                try:
                    full = [*sandbox_prefix(work, readable, gpu_sandbox_args() if gpu else ()), *cmd]
                except SandboxUnavailable as e:
                    return RunResult(None, "", "", 0.0, command=tuple(cmd),
                                     device_error=f"{self.device.name}: no sandbox for untrusted code: {e} "
                                                  "(or set `sandbox: false` on the device to run unconfined)")
            # pin single-threaded native runs to one core (the last one), so timings do not migrate
            core = (os.cpu_count() or 1) - 1 if native and sandbox and self.device.pin else None
            limits = Limits(cpu_s=int(timeout_s) + 5,
                            address_space=Limits.address_space if native and not gpu else None, core=core)
            env = {**clean_environ(), **self.device.env}
            if lib_dirs:
                env["LD_LIBRARY_PATH"] = ":".join(x for x in (env.get("LD_LIBRARY_PATH", ""), *lib_dirs) if x)
            out_path, err_path = work / ".stdout", work / ".stderr"
            req_path, chan_path = work / ".request", work / ".channel"
            req_path.write_bytes(stdin)
            chan_path.write_bytes(b"")
            start = time.monotonic()
            timed_out = False
            with out_path.open("wb") as out, err_path.open("wb") as err, req_path.open("rb") as req, \
                    chan_path.open("wb") as chan:
                chan_fd = chan.fileno()

                def child_setup():
                    os.dup2(chan_fd, CHANNEL_FD)   # the private channel is fd 3 of the program
                    os.set_inheritable(CHANNEL_FD, True)
                    if sandbox:
                        limits.apply()

                try:
                    proc = subprocess.Popen(full, cwd=work, stdin=req, stdout=out, stderr=err, env=env,
                                            start_new_session=True, pass_fds=(CHANNEL_FD,), preexec_fn=child_setup)
                except OSError as e:
                    return RunResult(None, "", "", 0.0, command=tuple(cmd),
                                     device_error=f"cannot start {cmd[0]!r} on {self.device.name}: {e}")
                try:
                    rc = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    rc = None
                _kill_group(proc)   # at every end, not only on timeout: nothing outlives a run
                if sandbox and rc is not None and 128 < rc < 160:
                    rc = -(rc - 128)  # bwrap reports a child killed by signal N as exit status 128+N
            wall = time.monotonic() - start
            files = {}
            for name in fetch:
                p = work / name
                if p.is_file() and not p.is_symlink():
                    files[name] = p.read_bytes()
            return RunResult(rc, _read(out_path), _read(err_path), wall, timed_out=timed_out,
                             signal=signal_name(rc), files=files, command=tuple(cmd),
                             channel=_read_bytes(chan_path, MAX_CHANNEL))
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
    """SIGKILL the whole process group, so nothing the run started keeps running."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _read(path: Path) -> str:
    return _read_bytes(path, MAX_CAPTURE).decode("utf-8", errors="replace")


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(limit)
    except OSError:
        return b""
