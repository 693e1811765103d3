"""Local transport: runs on this machine, natively or under the device's runner (QEMU), every
run of an artifact inside the bubblewrap sandbox (sandbox/bubblewrap.py) unless the device says
`sandbox: false`."""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.core.records import Artifact, RunResult
from harness.core.untrusted_files import UntrustedFileError, read_held, read_untrusted
from harness.transport.base import (CHANNEL_FD, MAX_CAPTURE, MAX_CHANNEL, MAX_FETCH, PROFILE_FD, Transport,
                                    is_qemu, runner_prefix, signal_name)
from harness.sandbox.gpu import gpu_sandbox_args
from harness.sandbox.bubblewrap import Limits, SandboxUnavailable, runner_paths, sandbox_prefix



class LocalTransport(Transport):
    kind = "local"

    def _prefix(self, plugin: tuple[str, ...] | None) -> tuple[list[str], str]:
        spec = None
        if plugin is not None:
            spec = ",".join([str(self.ws.qemu_plugin), *plugin])
        prefix = runner_prefix(self.device, self.ws, spec)
        if prefix and not shutil.which(prefix[0]):
            return prefix, f"runner {prefix[0]!r} not found on this machine (device {self.device.name})"
        if plugin is not None and is_qemu(prefix[0] if prefix else "") and not self.ws.qemu_plugin.is_file():
            # never run a profiled call without the plugin: its record would be the kernel's to write
            return prefix, f"the QEMU plugin {self.ws.qemu_plugin} is not built (run make setup)"
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
            env = {**run_environ(), **self.device.run_env}
            if lib_dirs:
                env["LD_LIBRARY_PATH"] = ":".join(x for x in (env.get("LD_LIBRARY_PATH", ""), *lib_dirs) if x)
            # every stream of the run is a memfd the harness holds: nothing in the run's directory
            # carries a result, so nothing the run can replace by path (a symlink, a FIFO) is read
            fds = {name: _memfd(name) for name in ("stdin", "stdout", "stderr", "channel", "profile")}
            try:
                os.pwrite(fds["stdin"], stdin, 0)
                chan_fd, prof_fd = fds["channel"], fds["profile"]

                def child_setup():
                    os.dup2(chan_fd, CHANNEL_FD)   # the private channel is fd 3 of the program
                    os.dup2(prof_fd, PROFILE_FD)   # the plugin's block profile fd 4
                    _close_on_exec_from(PROFILE_FD + 1)   # nothing else of tensorop's reaches the run
                    if sandbox:
                        limits.apply()

                start = time.monotonic()
                timed_out = False
                try:
                    proc = subprocess.Popen(full, cwd=work, stdin=fds["stdin"], stdout=fds["stdout"],
                                            stderr=fds["stderr"], env=env, start_new_session=True,
                                            close_fds=False, preexec_fn=child_setup)
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
                    if "/" in name or name in ("", ".", ".."):
                        continue
                    try:
                        files[name] = read_untrusted(work / name, MAX_FETCH)
                    except (FileNotFoundError, UntrustedFileError):
                        pass        # a missing (or replaced) output: the caller's check says what is missing
                return RunResult(rc, _text(fds["stdout"]), _text(fds["stderr"]), wall, timed_out=timed_out,
                                 signal=signal_name(rc), files=files, command=tuple(cmd),
                                 channel=read_held(chan_fd, MAX_CHANNEL), profile=read_held(prof_fd, MAX_CHANNEL))
            finally:
                for fd in fds.values():
                    os.close(fd)
        finally:
            shutil.rmtree(work, ignore_errors=True)


MAX_FD = 1 << 16


def _close_on_exec_from(low: int) -> None:
    """In the child between fork and exec: every descriptor from `low` up closes at exec. Marked
    close-on-exec rather than closed now: a library's fork handler may still be using its own
    descriptors until exec (gRPC, loaded by labgrid, aborted when its epoll fd vanished)."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(low, MAX_FD)
    for fd in fds:
        if fd >= low:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def _memfd(name: str) -> int:
    """A fresh anonymous file (close-on-exec), numbered above the fds a run is given."""
    fd = os.memfd_create(f"tensorop-{name}", os.MFD_CLOEXEC)
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _text(fd: int) -> str:
    return read_held(fd, MAX_CAPTURE).decode("utf-8", errors="replace")


# What a run (a kernel, a compiler on an untrusted source) gets of tensorop's environment: an
# allow-list, so no secret (an LLM endpoint's API key, a token) reaches code we did not write, and
# no variable that changes what a BLAS or OpenMP runtime does (this machine's image sets
# OPENBLAS_CORETYPE=Haswell, which halves OpenBLAS on an AVX-512 CPU): a device sets those
# explicitly in devices.yaml `env`, where they are recorded with every trial.
RUN_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "LD_LIBRARY_PATH", "TMPDIR")
RUN_ENV_PREFIXES = ("LC_", "CUDA_", "NVIDIA_")


def run_environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in RUN_ENV or k.startswith(RUN_ENV_PREFIXES)}
    env["HOME"] = "/tmp"
    return env


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
