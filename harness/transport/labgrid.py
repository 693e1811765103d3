"""labgrid transport: a board of a shared lab, reserved and acquired through labgrid's coordinator,
measured over the SSH transport.

    k1-lab:
      transport: labgrid
      coordinator: labgrid.lab:20408   # or LG_COORDINATOR
      place: k1-*                      # a place name or glob, or:
      tags: {board: k1}                # any free place with these tags (a labgrid reservation)
      arch: riscv64
      toolchain: riscv64-clang
      key: ~/.ssh/id_ed25519           # SSH fields (key, known_hosts, workdir, timeouts) apply to the board
      lock_wait_s: 600                 # how long to wait for a free place

A transport instance holds at most one place: `open()` (or the first run) reserves one (by tags:
a labgrid reservation, queued by the coordinator with its priorities; by a single place name:
a reservation on the tag `name`; by a glob: the first free matching place), waits with progress
and a time limit, acquires it, reads its `NetworkService` resource (address, port, username;
labgrid's proxy, `LG_PROXY` or the exporter's `proxy_required`, becomes a ProxyJump) and runs
trials over an SSHTransport to it (known_hosts trust, content-hash uploads, kill of the trial
session). labgrid's locking is the only lock: no tensorop lease file on such boards.

The place is released, and the reservation cancelled, by close(), at interpreter exit, and,
for a tensorop that was killed outright (kill -9), the next time any tensorop on the same host
talks to the coordinator: the owner name `<host>/tensorop-<pid>` says whose it was, and a pid
that no longer runs on this host is dead. The campaign runner gives each matching place a lane
(`lanes()`): trials spread over the free boards, one trial per board at a time.
"""
from __future__ import annotations

import asyncio
import atexit
import dataclasses
import fnmatch
import os
import re
import socket
import threading
import time
from typing import Callable

from harness.config.devices import Device
from harness.core.records import Artifact, RunResult
from harness.core.workspace import Workspace
from harness.transport.base import Transport
from harness.core.text import without_prefix

DEFAULT_PORT = 20408
POLL_S = 0.3
OWNER_RE = re.compile(r"^(?P<host>[^/]+)/tensorop-(?P<pid>\d+)$")


class LabgridError(Exception):
    """A coordinator or place problem, with a message meant for the user."""


def coordinator_address(device: Device) -> str:
    addr = device.coordinator or os.environ.get("LG_COORDINATOR", "")
    if not addr:
        raise LabgridError(f"{device.name}: no labgrid coordinator (set `coordinator:` or LG_COORDINATOR)")
    return addr if ":" in addr.rsplit("]", 1)[-1] else f"{addr}:{DEFAULT_PORT}"


def owner_name(pid: int | None = None) -> tuple[str, str]:
    """(host, user) of this process as the coordinator sees it: `<host>/tensorop-<pid>`."""
    return socket.gethostname(), f"tensorop-{pid or os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclasses.dataclass
class PlaceInfo:
    name: str
    tags: dict
    acquired: str | None
    reservation: str | None
    services: list[dict]          # NetworkService params of the matching resources (address, port, username, extra)
    available: bool               # every matching resource is available

    def matches(self, device: Device) -> bool:
        if device.tags and any(self.tags.get(k) != v for k, v in device.tags.items()):
            return False
        return not device.place or fnmatch.fnmatchcase(self.name, device.place)


class Coordinator:
    """One labgrid client session per coordinator per process, on an asyncio loop of its own
    (labgrid's client is asyncio; tensorop's lanes are threads)."""

    _all: dict[tuple[str, int], "Coordinator"] = {}
    _lock = threading.Lock()

    @classmethod
    def get(cls, address: str, timeout_s: float = 10.0) -> "Coordinator":
        key = (address, os.getpid())
        with cls._lock:
            c = cls._all.get(key)
            if c is None or c.broken:
                c = cls._all[key] = Coordinator(address, timeout_s)
            return c

    def __init__(self, address: str, timeout_s: float):
        # gRPC's fork handlers would restart its poller in every child this process forks
        # (trials of local devices, compilers): the child then writes gRPC errors into the
        # trial's stderr. tensorop's children exec at once and never use gRPC.
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
        from labgrid.remote.client import ClientSession   # imported here: only labgrid devices need it

        self.address = address
        self.broken = False
        self.held: dict[str, str | None] = {}         # place -> reservation token, of this process
        self.held_lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"labgrid-{address}", daemon=True)
        self._thread.start()
        host, user = owner_name()

        class Session(ClientSession):
            def gethostname(self):
                return host

            def getuser(self):
                return user

        async def start():
            s = Session(address=address, loop=self.loop)
            await s.start()
            return s

        try:
            self.session = self._call(start(), timeout_s)
        except Exception as e:
            self.broken = True
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise LabgridError(f"labgrid coordinator {address} unreachable: {e or type(e).__name__}") from None
        self.owner = f"{host}/{user}"
        atexit.register(self.release_all)

    @classmethod
    def close_all(cls) -> None:
        """Release what this process holds and close every coordinator session (tests, shutdown)."""
        with cls._lock:
            coords, cls._all = list(cls._all.values()), {}
        for c in coords:
            c.close()

    def close(self) -> None:
        if self.broken:
            return
        self.release_all()
        self.broken = True

        async def stop():
            await self.session.stop()
            await self.session.close()
        try:
            self._call(stop(), 5.0)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _call(self, coro, timeout_s: float = 15.0):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout_s)
        except TimeoutError:
            fut.cancel()
            raise LabgridError(f"labgrid coordinator {self.address}: no answer within {timeout_s:.0f} s") from None

    def _rpc(self, name: str, request, timeout_s: float = 15.0):
        import grpc

        async def call():
            return await getattr(self.session.stub, name)(request)
        try:
            return self._call(call(), timeout_s)
        except grpc.aio.AioRpcError as e:
            raise LabgridError(f"labgrid {name}: {e.details()}") from None

    def sync(self) -> None:
        """Wait until the coordinator's updates so far have reached our view of places."""
        ok = self._call(self.session.sync_with_coordinator())
        if not ok:
            self.broken = True
            raise LabgridError(f"labgrid coordinator {self.address}: connection lost")

    def places(self) -> dict[str, PlaceInfo]:
        self.sync()

        async def snapshot():
            out = {}
            for name, p in self.session.places.items():
                services, avail = [], True
                for exporter, groups in self.session.resources.items():
                    for group_name, group in groups.items():
                        for res_name, res in group.items():
                            if not p.hasmatch((exporter, group_name, res.cls, res_name)):
                                continue
                            avail = avail and res.avail
                            if res.cls == "NetworkService":
                                services.append(dict(res.params))
                out[name] = PlaceInfo(name, dict(p.tags), p.acquired, p.reservation, services, avail)
            return out
        return self._call(snapshot())

    # ---- reservations and places ----------------------------------------------------------
    def reserve(self, tags: dict) -> str:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        req = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=dict(tags))}, prio=0.0)
        return self._rpc("CreateReservation", req).reservation.token

    def poll(self, token: str) -> tuple[str, str | None]:
        """(state, allocated place or None) of a reservation; polling keeps it alive."""
        from labgrid.remote.common import Reservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        res = Reservation.from_pb2(self._rpc("PollReservation", pb.PollReservationRequest(token=token)).reservation)
        places = [p for group in res.allocations.values() for p in group]
        return res.state.name, (places[0] if places else None)

    def cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        try:
            self._rpc("CancelReservation", pb.CancelReservationRequest(token=token), timeout_s=5.0)
        except LabgridError:
            pass   # already gone (expired, or cancelled by a cleanup)

    def acquire(self, place: str, token: str | None) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        self._rpc("AcquirePlace", pb.AcquirePlaceRequest(placename=place))
        self.sync()
        with self.held_lock:
            self.held[place] = token

    def release(self, place: str, fromuser: str | None = None, timeout_s: float = 10.0) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        with self.held_lock:
            token = self.held.pop(place, None) if fromuser in (None, self.owner) else None
        try:
            self._rpc("ReleasePlace", pb.ReleasePlaceRequest(placename=place, fromuser=fromuser or self.owner),
                      timeout_s=timeout_s)
        finally:
            if token:
                self.cancel(token)

    def release_all(self) -> None:
        """Every place this process holds (at exit, or Ctrl-C while lanes still run)."""
        with self.held_lock:
            held = list(self.held)
        for place in held:
            try:
                self.release(place, timeout_s=3.0)
            except Exception:
                pass

    def reap_dead_owners(self, on_event: Callable[[str], None] | None = None) -> list[str]:
        """Release places (and cancel reservations) left by tensorop processes of this host
        that no longer run (killed with -9, or their machine rebooted)."""
        from labgrid.remote.common import Reservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        host, _ = owner_name()

        def dead(owner: str | None) -> bool:
            m = OWNER_RE.match(owner or "")
            return bool(m) and m["host"] == host and owner != self.owner and not _pid_alive(int(m["pid"]))
        freed = []
        for p in self.places().values():
            if dead(p.acquired):
                self.release(p.name, fromuser=p.acquired)
                freed.append(p.name)
                on_event and on_event(f"released place {p.name}, left acquired by {p.acquired} (no longer running)")
        for r in self._rpc("GetReservations", pb.GetReservationsRequest()).reservations:
            res = Reservation.from_pb2(r)
            if dead(res.owner):
                self.cancel(res.token)
        return freed


class LabgridTransport(Transport):
    kind = "labgrid"
    pooled = True                # a board of the lab's pool per turn (Transport: capabilities)

    def __init__(self, device: Device, ws: Workspace):
        super().__init__(device, ws)
        self.ssh = None
        self._token: str | None = None
        self._coord: Coordinator | None = None

    # ---- planning --------------------------------------------------------------------------
    @classmethod
    def lanes(cls, device: Device, ws: Workspace) -> int:
        """How many boards of this lab could serve the device at once (its campaign lanes)."""
        try:
            coord = Coordinator.get(coordinator_address(device), device.connect_timeout_s)
            return max(1, sum(1 for p in coord.places().values() if p.matches(device)))
        except LabgridError:
            return 1

    # ---- acquiring a place -----------------------------------------------------------------
    def open(self, wait_s: float | None = None) -> None:
        """Reserve, wait for and acquire a place, and connect to its NetworkService.
        Raises LabgridError (with who holds what) when none comes within wait_s."""
        if self.ssh is not None:
            return
        wait_s = self.device.lock_wait_s if wait_s is None else wait_s
        coord = self._coord = Coordinator.get(coordinator_address(self.device), self.device.connect_timeout_s)
        coord.reap_dead_owners(self.say)
        start = time.monotonic()
        place = self._wait_for_place(coord, start, wait_s)
        try:
            self._connect(coord, place)
        except BaseException:
            self._release()
            raise
        self.say(f"acquired place {place} ({self.board.get('hostname', '?')}) after "
                  f"{time.monotonic() - start:.1f} s")

    def _wait_for_place(self, coord: Coordinator, start: float, wait_s: float) -> str:
        dev = self.device
        candidates = [p for p in coord.places().values() if p.matches(dev)]
        if not candidates:
            raise LabgridError(f"no labgrid place matches {_wanted(dev)} on {coord.address}")
        names = [p.name for p in candidates]
        use_reservation = bool(dev.tags) or (len(names) == 1 and not any(c in dev.place for c in "*?["))
        if use_reservation:
            self._token = coord.reserve(dict(dev.tags) if dev.tags else {"name": names[0]})
        last_note = 0.0
        try:
            while True:
                if self._token:
                    state, place = coord.poll(self._token)
                    if state in ("allocated", "acquired") and place:
                        if place in names or not dev.place:
                            coord.acquire(place, self._token)
                            self.place = place
                            return place
                    elif state in ("expired", "invalid"):
                        self._token = coord.reserve(dict(dev.tags) if dev.tags else {"name": names[0]})
                else:
                    for p in coord.places().values():
                        if p.matches(dev) and p.acquired is None and p.reservation is None and p.available:
                            try:
                                coord.acquire(p.name, None)
                            except LabgridError:
                                continue     # taken by someone else in between
                            self.place = p.name
                            return p.name
                waited = time.monotonic() - start
                if waited >= wait_s or not self.keep_waiting():
                    raise LabgridError(f"no free place matching {_wanted(dev)} within {waited:.0f} s: "
                                       f"{_who(coord, dev)}")
                if waited - last_note >= 5.0 or last_note == 0.0:
                    last_note = waited or 1e-9
                    self.say(f"waiting for a place matching {_wanted(dev)}: {_who(coord, dev)}")
                time.sleep(POLL_S)
        except BaseException:
            if self._token:
                coord.cancel(self._token)
                self._token = None
            raise

    def _ssh_device(self, place: str, info) -> Device:
        """The SSH device that reaches a place's board: its NetworkService's address, port and user,
        with this device's SSH fields (key, known_hosts, timeouts)."""
        if not info.services:
            raise LabgridError(f"place {place} has no NetworkService resource (its matches: exporter/group/"
                               f"NetworkService/name)")
        svc = info.services[0]
        extra = svc.get("extra") or {}
        proxy = os.environ.get("LG_PROXY") or (extra.get("proxy") if extra.get("proxy_required") else "")
        return dataclasses.replace(
            self.device, transport="ssh", host=str(svc["address"]), port=int(svc.get("port") or 22),
            user=self.device.user or str(svc.get("username") or ""), lock=False,
            proxy_jump=proxy or self.device.proxy_jump)

    def boards(self) -> list[tuple[str, Device]]:
        """Every place of the lab that could serve this device, with the SSH device of its board
        (nothing is reserved or acquired: `tensorop devices trust` records their host keys)."""
        coord = Coordinator.get(coordinator_address(self.device), self.device.connect_timeout_s)
        return [(name, self._ssh_device(name, info)) for name, info in sorted(coord.places().items())
                if info.matches(self.device)]

    def _connect(self, coord: Coordinator, place: str) -> None:
        from harness.transport.ssh import SSHTransport
        info = coord.places()[place]
        svc = info.services[0] if info.services else {}
        ssh_dev = self._ssh_device(place, info)
        self.ssh = SSHTransport(ssh_dev, self.ws)
        r = self.ssh.run_command(["uname", "-n"], timeout_s=self.device.connect_timeout_s + 5)
        if r.device_error or r.returncode != 0:
            raise LabgridError(f"place {place} ({svc['address']}:{svc.get('port', 22)}): "
                               f"{without_prefix(r.device_error or r.stderr.strip()[-200:], self.device.name)}")
        self.board = {"place": place, "hostname": r.stdout.strip(), "address": f"{svc['address']}:{svc.get('port', 22)}",
                      "coordinator": coord.address}

    def still_ours(self) -> bool:
        """False when the place was taken away (released or kicked by someone else)."""
        if self._coord is None or self.place is None:
            return False
        try:
            p = self._coord.places().get(self.place)
        except LabgridError:
            return False
        return p is not None and p.acquired == self._coord.owner and p.available

    def _release(self) -> None:
        if self.ssh is not None:
            try:
                self.ssh.close()
            except Exception:
                pass
            self.ssh = None
        if self._coord is not None and self.place is not None:
            try:
                self._coord.release(self.place)
            except LabgridError:
                pass    # taken away already, or the coordinator is gone (it keeps the owner name)
        elif self._coord is not None and self._token:
            self._coord.cancel(self._token)
        self.place, self._token, self.board = None, None, {}

    def close(self) -> None:
        self._release()

    # ---- Transport API ---------------------------------------------------------------------
    def _ready(self, shown: list[str]) -> RunResult | None:
        try:
            self.open()
        except LabgridError as e:
            return RunResult(None, "", "", 0.0, command=tuple(shown), device_error=f"{self.device.name}: {e}")
        return None

    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float, fetch: list[str] = (),
            stdin: bytes = b"", plugin: tuple[str, ...] | None = None, **legacy) -> RunResult:
        err = self._ready(["./driver", *args])
        if err is not None:
            return err
        return self.ssh.run(artifact, args, timeout_s=timeout_s, fetch=fetch, stdin=stdin, plugin=plugin, **legacy)

    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        err = self._ready(list(argv))
        if err is not None:
            return err
        return self.ssh.run_command(argv, timeout_s=timeout_s)


def _wanted(dev: Device) -> str:
    parts = [f"{k}={v}" for k, v in dev.tags.items()]
    if dev.place:
        parts.append(f"place {dev.place}")
    return ", ".join(parts)


def _who(coord: Coordinator, dev: Device) -> str:
    rows = []
    for p in sorted(coord.places().values(), key=lambda p: p.name):
        if p.matches(dev):
            state = f"acquired by {p.acquired}" if p.acquired else ("reserved" if p.reservation else
                                                                   "free" if p.available else "offline")
            rows.append(f"{p.name} {state}")
    return "; ".join(rows) or "no matching place"


def describe(device: Device) -> tuple[bool, list[str]]:
    """For `tensorop devices check`: the coordinator, the matching places and who holds them."""
    try:
        coord = Coordinator.get(coordinator_address(device), device.connect_timeout_s)
        places = [p for p in coord.places().values() if p.matches(device)]
    except LabgridError as e:
        return False, [f"[red]{e}[/red]"]
    lines = [f"coordinator {coord.address}, {len(places)} place(s) matching {_wanted(device)}"]
    for p in sorted(places, key=lambda p: p.name):
        svc = p.services[0] if p.services else {}
        where = f"{svc.get('username', '?')}@{svc.get('address', '?')}:{svc.get('port', 22)}" if svc else "no NetworkService"
        state = f"acquired by {p.acquired}" if p.acquired else ("reserved" if p.reservation else
                                                               "free" if p.available else "offline")
        tags = ",".join(f"{k}={v}" for k, v in sorted(p.tags.items()))
        lines.append(f"{p.name} [{tags}] {where}: {state}")
    return bool(places), lines
