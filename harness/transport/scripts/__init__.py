"""Shell scripts that run on devices (POSIX sh), kept as package data so they can be linted
(`sh -n`, shellcheck) instead of living in Python strings.

    ssh_wrapper.sh   the SSH transport's per-run wrapper (harness/transport/ssh/exec.py)
    devlock.sh       the device lock with a lease (harness/campaign/locks.py)
    probe.sh         the hardware probe's one round trip (harness/backends/cpu/probe.py)
    health.sh        `tensorop devices check` for a remote device (harness/campaign/device_check.py)

Each is passed as `sh -c SCRIPT sh ARGS...`, so it is the same text on every device.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

NAMES = ("ssh_wrapper.sh", "devlock.sh", "probe.sh", "health.sh")


@lru_cache(maxsize=None)
def script(name: str) -> str:
    """The text of one of the scripts above."""
    if name not in NAMES:
        raise KeyError(f"no device script {name!r}; known: {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
