"""The sandbox for code we did not write (kernels, LLM-written scripts) on this machine.

bubblewrap (`bwrap`, Debian package `bubblewrap`) puts every untrusted run in fresh namespaces:
  - user: runs as uid/gid 65534 (nobody) with no capabilities;
  - mount: a read-only /usr (and the /bin, /lib, /lib64 links), a private /proc, a minimal
    /dev, an empty private /tmp; the run's own scratch directory is the only writable place;
    the few files the run needs (its executable and libraries, the QEMU sysroot and plugin) are
    bound read-only at their own paths; the repository, the results database, the caches,
    /home, /root and /etc are not there at all;
  - network: a new, empty network namespace (no interfaces, no loopback traffic out);
  - pid + ipc + uts + cgroup: its own PID namespace, so every process it starts (double forks
    and setsid included) is killed when the run ends; `--die-with-parent` ties it to tensorop;
    `--new-session` stops it from reaching the terminal.
Plus rlimits (CPU time, address space for native binaries, file size, no core dumps).

What it does not protect: the CPU and memory bandwidth are shared (a kernel can slow the
machine while it runs); files under the bound read-only paths can be read; a kernel-level
exploit of the host is out of scope.
"""
from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    cpu_s: int
    address_space: int | None = 16 * GiB     # None: unlimited (QEMU reserves large guest maps)
    file_size: int = 2 * GiB
    core: int | None = None                  # pin to this CPU (timing runs), None: any

    def apply(self) -> None:  # runs in the child between fork and exec
        _die_with_parent()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size, self.file_size))
        if self.address_space:
            resource.setrlimit(resource.RLIMIT_AS, (self.address_space, self.address_space))
        if self.core is not None:
            try:
                os.sched_setaffinity(0, {self.core})
            except OSError:
                pass


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL the child when the thread that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class SandboxUnavailable(RuntimeError):
    pass


def _base_args(bwrap: str) -> list[str]:
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox", "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--setenv", "HOME", "/tmp"]
    for link in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        p = Path("/") / link
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{link}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{link}"]
    # Debian's alternatives: links under /usr that lead through /etc/alternatives (a CUDA toolkit
    # installed from NVIDIA's packages makes /usr/local/cuda one) must resolve inside too
    if Path("/etc/alternatives").is_dir():
        args += ["--ro-bind", "/etc/alternatives", "/etc/alternatives"]
    return args


@functools.lru_cache(maxsize=1)
def _bwrap() -> str:
    """The bwrap binary, checked once to work here; raises SandboxUnavailable with the reason."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: run `make setup` "
                                 "(or apt-get install bubblewrap)")
    try:
        p = subprocess.run([*_base_args(bwrap), "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxUnavailable(f"bwrap does not run here: {e}") from None
    if p.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create its namespaces here: {p.stderr.strip()[-300:]}")
    return bwrap


def sandbox_prefix(workdir: Path, readable: Iterable[Path | str] = (), extra: Iterable[str] = ()) -> list[str]:
    """The bwrap command prefix for one run: `workdir` is the only writable directory (and the
    working directory); every path in `readable` is bound read-only at its own path; `extra`
    are further bwrap arguments (a CUDA device's GPU nodes: harness/sandbox/gpu.py)."""
    args = _base_args(_bwrap()) + list(extra)
    seen: set[str] = set()
    for p in readable:
        for q in dict.fromkeys((Path(p), Path(p).resolve())):
            s = str(q)
            if s in seen or not q.exists() or s == "/" or s.startswith("/usr/"):
                continue
            seen.add(s)
            args += ["--ro-bind", s, s]
    w = str(Path(workdir).resolve())
    args += ["--bind", w, w, "--chdir", w, "--"]
    return args


def runner_paths(argv: Iterable[str]) -> list[Path]:
    """Absolute paths named in a runner command line (a QEMU -L sysroot, a -plugin library,
    with ',options' stripped), which the sandbox must let the run read."""
    out = []
    for a in argv:
        head = a.split(",", 1)[0]
        if head.startswith("/") and Path(head).exists():
            out.append(Path(head))
    return out
