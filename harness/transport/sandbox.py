"""Host safety for code we did not write (later: LLM-written) running on the host device.

Every run gets a scratch directory, resource limits (CPU time, address space for native
binaries, file size, no core dumps) and, where the machine allows it, a new network
namespace with no interfaces up (`unshare -n` as root, `unshare -rn` via a user namespace
otherwise). Commands are always argument lists, never shell strings.
"""
from __future__ import annotations

import ctypes
import functools
import resource
import signal
import shutil
import subprocess
from dataclasses import dataclass

GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    cpu_s: int
    address_space: int | None = 16 * GiB     # None: unlimited (QEMU reserves large guest maps)
    file_size: int = 2 * GiB

    def apply(self) -> None:  # runs in the child between fork and exec
        _die_with_parent()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size, self.file_size))
        if self.address_space:
            resource.setrlimit(resource.RLIMIT_AS, (self.address_space, self.address_space))


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL the child when the thread that started it dies, so a killed tensorop
    leaves no kernel spinning (the child runs in its own session, out of reach of ^C)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


@functools.lru_cache(maxsize=1)
def no_network_prefix() -> tuple[str, ...]:
    """The prefix that runs a command without network, or () where this machine forbids it."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    for prefix in ((unshare, "-n"), (unshare, "-rn")):
        try:
            p = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if p.returncode == 0:
            return prefix
    return ()
