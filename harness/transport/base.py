"""Transports run an artifact on a device and bring back what it printed and wrote.

Adding a transport is adding one module with a `Transport` subclass (see local.py) and its
line in the registry (harness/config/transports.py); this module knows none of them. The trial
code only calls `run()`. Failures of the transport itself (unreachable device, missing
runner) come back as `RunResult.device_error`, never as exceptions.
"""
from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from harness.config.devices import Device
from harness.core.records import Artifact, RunResult
from harness.core.workspace import Workspace

MAX_CAPTURE = 1 << 20    # bytes of stdout/stderr kept from one run
MAX_CHANNEL = 64 << 20   # bytes of the result channel and of the block profile kept from one run
MAX_FETCH = 1 << 30      # bytes of one output file fetched from a run
CHANNEL_FD = 3           # the program's private result channel (the driver's and the plugin's records)
PROFILE_FD = 4           # the QEMU plugin's block profile


class Transport(ABC):
    """One device's way of running things. Instances may hold a connection; call close().

    Capabilities the campaign relies on (harness/campaign/scheduler.py), declared here with the
    defaults of a transport that serves one fixed machine:
      lanes(device, ws)   how many boards could serve the device at once (labgrid: the matching
                          places); each lane gets its own transport instance
      pooled              True when a transport takes a board from a shared pool per turn: the
                          campaign calls open() before each trial and close() to give it back
      open()              take a board (or connect); raises with the reason when none can be had
      still_ours()        the board is still this transport's (a lab can take it away)
      place, board        which board is held ({} when none): stored with each trial
      on_event            set by the campaign: progress text (waiting for a board, reconnecting)
      keep_waiting        set by the campaign: whether trials still wait for this device
    """

    pooled: bool = False

    def __init__(self, device: Device, ws: Workspace):
        self.device = device
        self.ws = ws
        self.place: str | None = None
        self.board: dict = {}
        self.on_event: Callable[[str], None] | None = None
        self.keep_waiting: Callable[[], bool] = lambda: True

    @classmethod
    def lanes(cls, device: Device, ws: Workspace) -> int:
        return 1

    def open(self) -> None:
        pass

    def still_ours(self) -> bool:
        return True

    def say(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    @abstractmethod
    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float,
            fetch: list[str] = (), stdin: bytes = b"", plugin: tuple[str, ...] | None = None) -> RunResult:
        """Run `artifact.executable args...` under the device's runner with the device's env,
        in a fresh work directory; kill everything at timeout_s; return the files named in
        `fetch` (written by the program into its working directory).

        The private channel (docs/THREAT_MODEL.md): `stdin` is fed to the program's standard input
        (the driver reads its request there, after the kernel is loaded); file descriptor 3 of
        the program (CHANNEL_FD) is a fresh empty file the harness opened before the run, whose
        content comes back as `RunResult.channel` (the driver's and the QEMU plugin's records);
        descriptor 4 (PROFILE_FD) likewise comes back as `RunResult.profile` (the plugin's block
        profile). Nothing is parsed from stdout/stderr. Files named in `fetch` are read only if
        the run left regular files there (never through a link, a FIFO or a device), bounded.

        `plugin`: None runs without the QEMU plugin; a tuple of "key=value" options loads the
        tensorop plugin into a QEMU runner as `-plugin <lib>,key=value,...` (ignored for
        native runners)."""

    @abstractmethod
    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        """Run a plain command on the device (no runner prefix), for checks and probes."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def runner_prefix(device: Device, ws: Workspace, plugin: str | None = None) -> list[str]:
    """The device's runner with {root}/{cache} expanded; with `plugin` (the library path plus
    ",key=value" options), QEMU's -plugin option is inserted right after the QEMU binary."""
    prefix = [ws.expand(a) for a in device.runner]
    if plugin is not None and prefix and is_qemu(prefix[0]):
        prefix[1:1] = ["-plugin", plugin]
    return prefix


def is_qemu(binary: str) -> bool:
    return Path(binary).name.startswith("qemu-")


def signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


