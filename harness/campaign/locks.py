"""Exclusive device lock with a lease, held on the device itself.

The lock is a directory (mkdir is atomic on every POSIX file system) holding a `lease` file:
`<owner> <since> <expires>` in the device's own clock (so host/device clock skew does not
matter). The holder renews the lease from a background thread every lease/3 seconds; a lease
that has expired (its holder was killed, or lost its link) is stale and the next taker recovers
it. Waiting reports who holds the lock and since when.

It works through any Transport's run_command (the POSIX sh script harness/transport/scripts/devlock.sh), so local devices are locked the
same way (under .cache/locks/) as SSH boards (under the device's workdir).
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from harness.transport.scripts import script
from harness.transport.base import Transport


@dataclass
class LockInfo:
    owner: str
    since: float      # device epoch seconds
    expires: float
    now: float = 0.0

    def describe(self) -> str:
        host, _, rest = self.owner.partition(":")
        pid = rest.split(":")[0] if rest else "?"
        ago = max(0.0, self.now - self.since)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since)) if self.since else "?"
        return f"held by {host} pid {pid} since {when} ({ago:.0f} s ago, lease ends in {self.expires - self.now:.0f} s)"


class LockError(Exception):
    pass


class DeviceLock:
    """`with DeviceLock(transport, path, lease_s): ...` or acquire()/release()."""

    def __init__(self, transport: Transport, path: str, lease_s: float = 60.0, *, wait_s: float = 600.0,
                 poll_s: float = 1.0, on_wait: Callable[[LockInfo], None] | None = None,
                 on_event: Callable[[str], None] | None = None):
        self.transport = transport
        self.path = path
        self.lease_s = max(1, int(round(lease_s)))
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.on_wait = on_wait
        self.on_event = on_event
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.waited_s = 0.0
        self.lost = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _call(self, op: str, timeout_s: float = 15.0):
        r = self.transport.run_command(["sh", "-c", script("devlock.sh"), "sh", op, self.path, self.owner, str(self.lease_s)],
                                       timeout_s=timeout_s)
        if r.device_error:
            raise LockError(r.device_error)
        line = (r.stdout.strip().splitlines() or [""])[-1].split()
        if not line:
            raise LockError(f"lock script failed on {self.transport.device.name} (exit {r.returncode}): "
                            f"{r.stderr.strip()[-300:]}")
        return line

    def acquire(self) -> None:
        """Block until the lock is ours (at most wait_s); raises LockError on transport trouble or timeout."""
        start = time.monotonic()
        for _ in range(1_000_000):   # bounded by wait_s below
            line = self._call("acquire")
            if line[0] == "acquired":
                self.held = True
                self.waited_s = time.monotonic() - start
                self._start_renewer()
                return
            if line[0] == "stale":
                info = _info(line[1:4])
                self.on_event and self.on_event(f"recovered a stale lock of {info.owner} "
                                                f"(lease expired at {time.strftime('%H:%M:%S', time.localtime(info.expires))})")
                continue
            if line[0] != "held":
                raise LockError(f"unexpected lock answer: {' '.join(line)}")
            info = _info(line[1:5])
            self.on_wait and self.on_wait(info)
            if time.monotonic() - start >= self.wait_s:
                raise LockError(f"device {self.transport.device.name} is locked ({self.path}), {info.describe()}; "
                                f"gave up after {self.wait_s:.0f} s")
            time.sleep(min(self.poll_s, max(0.05, self.wait_s - (time.monotonic() - start))))
        raise LockError("lock wait loop exhausted")

    def _start_renewer(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{self.transport.device.name}",
                                         daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = max(0.3, self.lease_s / 3)
        while not self._stop.wait(interval):
            if not getattr(self.transport, "connected", True):
                continue   # link down: the trial thread reconnects; a lease that lapses meanwhile is re-taken
            try:
                line = self._call("renew", timeout_s=max(2.0, interval))
            except LockError:
                continue   # link trouble: the trial will see it too; retry next tick
            if line[0] == "lost":
                self.lost = f"lock taken over by {line[1] if len(line) > 1 else '?'}"
                self.on_event and self.on_event(self.lost)
                return

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
            self._renewer = None
        if self.held:
            self.held = False
            if not getattr(self.transport, "connected", True):
                return     # unreachable: the lease expires by itself
            try:
                self._call("release", timeout_s=5.0)
            except LockError:
                pass   # unreachable: the lease expires by itself

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _info(fields: list[str]) -> LockInfo:
    def num(i):
        try:
            return float(fields[i])
        except (IndexError, ValueError):
            return 0.0
    return LockInfo(owner=fields[0] if fields else "?", since=num(1), expires=num(2), now=num(3))


def lock_path(transport: Transport) -> str:
    """Where a device's lock lives: the SSH workdir, or the local cache."""
    dev = transport.device
    if dev.transport == "ssh":
        wd = getattr(transport, "workdir", dev.workdir)
        return f"{wd}/lock"
    return str(transport.ws.cache / "locks" / dev.name)
