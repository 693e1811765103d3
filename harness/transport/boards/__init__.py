"""Boards tensorop builds and boots itself: a Debian Linux (riscv64, arm64) in QEMU system mode,
reached over SSH like a lab's board (docs/DEVICES.md, "Boards in QEMU system mode").

    image.py   build the board once from Debian packages (mmdebstrap), cached in the user's cache
               directory, checked before each boot (a corrupt cache is rebuilt)
    vm.py      boot it (QEMU, user networking with the SSH port forwarded to loopback), wait for
               its SSH, stop it, say how it stands

The board names and what each is are harness/config/boards.py SYSTEM_BOARDS; the devices that reach
them are devices.yaml entries with `board: NAME`.
"""
from __future__ import annotations


class BoardError(Exception):
    """A board that cannot be built, booted or reached; the message says what to do."""
