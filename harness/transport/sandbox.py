"""Host safety for code we did not write (later: LLM-written) running on the host device.

Every run gets a scratch directory, resource limits (CPU time, address space for native
binaries, file size, no core dumps) and, where the machine allows it, a new network
namespace with no interfaces up (`unshare -n` as root, `unshare -rn` via a user namespace
otherwise). Commands are always argument lists, never shell strings.
"""
from __future__ import annotations

import functools
import resource
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
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size, self.file_size))
        if self.address_space:
            resource.setrlimit(resource.RLIMIT_AS, (self.address_space, self.address_space))


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
