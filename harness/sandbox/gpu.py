"""What a CUDA device's run needs inside the bubblewrap sandbox (harness/sandbox/bubblewrap.py),
and nothing a CPU device's run gets:

- the GPU's device nodes, read-write (`--dev-bind`): /dev/nvidiactl, /dev/nvidia0..N,
  /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidia-modeset and the /dev/nvidia-caps
  directory (MIG and capability nodes) when present;
- read-only: /proc/driver/nvidia (the driver's parameters and GPU list, which libcuda reads over
  the sandbox's own /proc), /sys (libcuda walks the PCI devices, NUMA nodes and the nvidia
  module's parameters there) and /etc/ld.so.cache (the NVIDIA driver's libcuda.so.1 is opened by
  name at run time and may live in a directory only the cache names);
- no address-space rlimit: the CUDA runtime reserves virtual ranges far beyond the 16 GiB limit
  native CPU runs get (unified addressing maps the GPU's memory and more into the process).
The rest of the sandbox stays: the new user, PID, IPC and network namespaces, the read-only
system, the private scratch directory, the CPU-time and file-size limits.

`gpu_sandbox_args(entries)` is pure (tests give it a fake listing); `gpu_sandbox_args()` lists
this machine's /dev.
"""
from __future__ import annotations

import os
import re
from typing import Iterable

DEV_RE = re.compile(r"^nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset|-caps)$")
READ_ONLY = ("/proc/driver/nvidia", "/sys", "/etc/ld.so.cache")


def gpu_device_nodes(entries: Iterable[str]) -> list[str]:
    """The GPU device paths among `entries` (names or paths under /dev), sorted."""
    out = []
    for e in entries:
        name = e.rsplit("/", 1)[-1]
        if DEV_RE.match(name):
            out.append(f"/dev/{name}")
    return sorted(set(out))


def gpu_sandbox_args(entries: Iterable[str] | None = None, exists=os.path.exists) -> list[str]:
    """bwrap arguments that expose the GPU: device nodes from `entries` (default: this
    machine's /dev), the read-only paths that `exists`."""
    if entries is None:
        try:
            entries = os.listdir("/dev")
        except OSError:
            entries = []
    args: list[str] = []
    for node in gpu_device_nodes(entries):
        args += ["--dev-bind", node, node]
    for p in READ_ONLY:
        if exists(p):
            args += ["--ro-bind", p, p]
    return args
