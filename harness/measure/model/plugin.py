"""The tensorop QEMU plugin (qemu/tensorop_plugin.c) as a trial uses it: its options for a profiled
run, and what its record says about the counted call."""
from __future__ import annotations

from harness.core.records import Artifact
from harness.measure.model import memory
from harness.transport.base import CHANNEL_FD, PROFILE_FD


def plugin_options(art: Artifact, device=None) -> tuple[str, ...]:
    """The QEMU plugin's options for a profiled run of `art`: its record on the channel (fd 3), its
    block profile on fd 4, the markers and the kernel's code by address (art.code_map), and the
    device's memory hierarchy to simulate (memory.for_device; none: core cycles only)."""
    h = memory.for_device(device) if device is not None else None
    return (f"fd={CHANNEL_FD}", f"blocks={PROFILE_FD}", *(art.code_map.plugin_options() if art.code_map else ()),
            *(h.plugin_options() if h else ()))


def profile_problem(plugin: dict) -> str:
    """'' when the plugin's record shows a clean counted call; else what the kernel did."""
    if plugin.get("forged"):
        return (f"the kernel called the counting markers itself ({plugin['forged']} time(s)); only the "
                "driver may")
    if plugin.get("outside"):
        return (f"the kernel's code ran outside the counted call ({plugin['outside']} block(s)): all of its work "
                "must be inside it")
    if plugin.get("syscalls"):
        return (f"the kernel made {plugin['syscalls']} system call(s) it may not make in or after the counted call "
                f"(the first: number {plugin.get('syscall_first')}); a kernel may only allocate memory and manage what "
                "it allocated, never make memory executable")
    regions = int(plugin.get("regions") or 0)
    if regions != 1:
        return f"the plugin saw {regions} kernel regions, expected exactly 1"
    return ""
