"""The campaign: EVERY trial and every comparison of every command runs here (docs/ARCHITECTURE.md), so
device locks, quarantine, parallel builds and storage do not depend on the command used.

    with Campaign(lab, store, overrides=...) as c:        # one campaign id, lanes kept open
        trials = c.run(jobs)                               # each trial stored as soon as it ends
        cmp = c.compare(device, a, b, shape, op, trials=(ta, tb))   # the one "faster"

Dispatch: one worker thread per *lane* and run(); an SSH device is its own lane, a device whose
transport serves several boards at once (labgrid: `Transport.lanes`) has one lane per board
(its trials spread over the free boards), all local devices share one lane (they share this
machine's CPUs, so measuring them concurrently would distort each other). Lanes run
concurrently. Kernels are compiled ahead in a pool sized to the host's cores while the devices
measure. A lane keeps its transport (connection) and the device's lock (harness/campaign/locks.py)
for the campaign's life; a pooled transport (labgrid) takes a board per turn and gives it back.
Consecutive device errors are counted per device across run() calls; after
`device.quarantine_after` of them the device's remaining trials are stored as device_error
"quarantined" and the campaign goes on with the other devices. Nothing raised by a device escapes.

`resume=True` with an existing campaign id re-runs only the trials that campaign has not
finished (a job whose latest stored trial has any status but device_error or internal_error
counts as finished); the campaign's result set is then the latest trial of each job
(Store.campaign_trials).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

from harness.backends import backend_for
from harness.campaign.locks import DeviceLock, LockError, lock_path
from harness.campaign.provenance import provenance
from harness.campaign.store import Store, job_key
from harness.config.devices import Device
from harness.config.lab import Lab
from harness.core.measure_options import MeasureOptions
from harness.core.records import Kernel, Status, Trial
from harness.core.text import prefixed, shorten, without_prefix
from harness.measure.compare import Comparison, compare
from harness.measure.runner import build_kernel, run_trial
from harness.ops import Op, default_op
from harness.transport import get_transport, transport_class
from harness.transport.base import Transport


@dataclass(frozen=True)
class Job:
    kernel: Kernel
    device: str
    shape: tuple[int, ...]
    op: Op | None = None             # the operator the kernel implements (None: GEMM f32)

    @property
    def the_op(self) -> Op:
        return self.op or default_op()


def new_campaign_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def unfinished(store: Store, campaign: str, jobs: list[Job]) -> list[Job]:
    """The jobs whose latest trial in the campaign is missing, a device_error or an internal_error."""
    keys = [job_key(j.device, j.kernel.label, j.kernel.hash, j.the_op.name, j.shape, j.the_op.dtype) for j in jobs]
    return [jobs[i] for i in store.unfinished(campaign, keys)]


def _build_key(k: Kernel, tc, op: Op | None, threads: int, device: Device) -> tuple:
    return (k.hash, k.name, k.allow_blas, k.libs, k.relax, k.cflags, tc.name, (op or default_op()).key, threads,
            backend_for(device).build_key(device))


def _lane_name(device: Device) -> str:
    if device.transport == "local":
        return "local"
    if device.transport == "ssh":
        return f"ssh:{device.host}:{device.port}"
    return f"{device.transport}:{device.name}"


def _error_trial(device: Device, j: Job, campaign: str, error: str, status: Status = Status.DEVICE_ERROR) -> Trial:
    return Trial(device=device.name, op=j.the_op.name, shape=tuple(j.shape), dtype=j.the_op.dtype,
                 kernel=j.kernel.label, source_hash=j.kernel.hash, status=status, error=error, arch=device.arch,
                 emulated=device.emulated, emulation=device.emulation, transport=device.transport,
                 campaign=campaign)


@dataclass
class _Health:
    """A device's consecutive device errors (its quarantine state), kept across run() calls."""
    consecutive: int = 0
    last_error: str = ""


@dataclass
class _Lane:
    """One lane of one device: its transport (connection) and lock, kept for the campaign's life."""
    device: Device
    transport: Transport | None = None
    lock: DeviceLock | None = None
    guard: threading.Lock = field(default_factory=threading.Lock)


class Campaign:
    """One campaign id, its store, its lanes. Use as a context manager (close() drops the
    connections and releases the locks); callbacks are called from worker threads, one at a time:
    on_event(device, text) reports lock waits, reconnects and quarantines."""

    def __init__(self, lab: Lab, store: Store, *, campaign: str | None = None, overrides: dict | None = None,
                 extra_cflags: tuple[str, ...] = (), on_event: Callable[[str, str], None] | None = None,
                 build_workers: int | None = None):
        self.lab, self.store = lab, store
        self.id = campaign or new_campaign_id()
        self.overrides = dict(overrides or {})
        self.extra_cflags = tuple(extra_cflags)
        self.on_event = on_event
        self._pool = ThreadPoolExecutor(max_workers=build_workers or os.cpu_count() or 2, thread_name_prefix="build")
        self._builds: dict[tuple, Future] = {}
        self._lanes: dict[str, _Lane] = {}
        self._health: dict[str, _Health] = {}
        self._cb_lock, self._store_lock, self._state = threading.Lock(), threading.Lock(), threading.Lock()

    # ---- life -------------------------------------------------------------------------------
    def __enter__(self) -> "Campaign":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for lane in self._lanes.values():
            if lane.lock is not None:
                lane.lock.release()
                lane.lock = None
            if lane.transport is not None:
                with contextlib.suppress(Exception):
                    lane.transport.close()
                lane.transport = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---- helpers ------------------------------------------------------------------------------
    def _call(self, fn, *args) -> None:
        if fn is not None:
            with self._cb_lock:
                fn(*args)

    def _event(self, device: str, text: str) -> None:
        self._call(self.on_event, device, text)

    def _opts(self, device: Device, overrides: dict | None = None) -> MeasureOptions:
        return MeasureOptions.for_device(device, **{**self.overrides, **(overrides or {})})

    def _health_of(self, device: Device) -> _Health:
        with self._state:
            return self._health.setdefault(device.name, _Health())

    def _lane(self, name: str, device: Device) -> _Lane:
        with self._state:
            return self._lanes.setdefault(name, _Lane(device))

    def _transport(self, lane: _Lane, queue: deque | None = None) -> Transport:
        if lane.transport is None:
            t = get_transport(lane.device, self.lab.ws)
            t.on_event = lambda text, d=lane.device.name: self._event(d, text)
            if queue is not None:
                t.keep_waiting = lambda q=queue: bool(q)
            lane.transport = t
        elif queue is not None:
            lane.transport.keep_waiting = lambda q=queue: bool(q)
        return lane.transport

    def _hold_lock(self, lane: _Lane) -> float:
        """Take (or keep) the device's lock when it asks for one; seconds waited. Raises LockError."""
        device = lane.device
        if not device.lock or (lane.lock is not None and lane.lock.held and not lane.lock.lost):
            return 0.0
        if lane.lock is not None:
            lane.lock.release()
        t = lane.transport
        lane.lock = DeviceLock(t, lock_path(t), device.lock_lease_s, wait_s=device.lock_wait_s,
                               on_wait=lambda info, d=device.name: self._event(d, f"waiting for the lock: "
                                                                                 f"{info.describe()}"),
                               on_event=lambda text, d=device.name: self._event(d, text))
        try:
            lane.lock.acquire()
        except LockError:
            lane.lock = None
            raise
        return lane.lock.waited_s

    def _device_failed(self, device: Device, error: str) -> None:
        h = self._health_of(device)
        h.consecutive, h.last_error = h.consecutive + 1, error
        if h.consecutive == device.quarantine_after:
            self._event(device.name, f"quarantined after {h.consecutive} consecutive device errors")

    def quarantined(self, device: Device) -> str:
        """'' unless the device is quarantined in this campaign, else why."""
        h = self._health_of(device)
        if h.consecutive >= device.quarantine_after:
            return f"quarantined: {device.name} failed {h.consecutive} trials in a row (last: {shorten(h.last_error, 300)})"
        return ""

    def _prebuild(self, jobs: list[Job]) -> None:
        """Compile ahead: one build per (kernel, toolchain, op, threads, backend key)."""
        for j in jobs:
            device = self.lab.devices[j.device]
            tc = self.lab.toolchain(device)
            if tc is None:
                continue
            key = _build_key(j.kernel, tc, j.op, device.threads_allowed, device)
            if key not in self._builds:
                self._builds[key] = self._pool.submit(build_kernel, self.lab.ws, tc, j.kernel, self.extra_cflags, None,
                                                      j.the_op, device.threads_allowed, device)

    def _prebuilt(self, j: Job, device: Device):
        tc = self.lab.toolchain(device)
        f = self._builds.get(_build_key(j.kernel, tc, j.op, device.threads_allowed, device)) if tc else None
        if f is None:
            return None
        try:
            return f.result()        # a failed build is a result too: no second compile
        except Exception:
            return None              # run_trial builds again and reports the failure

    # ---- trials -------------------------------------------------------------------------------
    def run(self, jobs: Iterable[Job], *, on_start: Callable[[Job], None] | None = None,
            on_trial: Callable[[Trial], None] | None = None, resume: bool = False,
            overrides: dict | None = None, store_as: str | None = None) -> list[Trial]:
        """Run every job; returns the trials in job order (each stored before the next starts).
        `overrides`: measurement options for these jobs, over the campaign's own; `store_as`: the
        campaign id these trials are stored under (default this campaign's)."""
        jobs = list(jobs)
        if resume:
            jobs = unfinished(self.store, self.id, jobs)
        order = {id(j): i for i, j in enumerate(jobs)}
        results: list[tuple[int, Trial]] = []

        def record(j: Job, t: Trial) -> None:
            t.meta.setdefault("provenance", provenance(self.lab.devices[j.device], j.kernel))
            with self._store_lock:
                self.store.add(t)
                results.append((order[id(j)], t))
            self._call(on_trial, t)

        self._prebuild(jobs)
        queues: dict[str, deque] = {}
        for j in jobs:
            queues.setdefault(j.device, deque()).append(j)
        lanes: dict[str, list[str]] = {}
        for dev_name, q in queues.items():
            device = self.lab.devices[dev_name]
            width = 1
            try:
                width = max(1, min(len(q), transport_class(device.transport).lanes(device, self.lab.ws)))
            except Exception:
                width = 1
            for k in range(width):
                lanes.setdefault(_lane_name(device) + (f"#{k}" if k else ""), []).append(dev_name)
        active = {d: sum(names.count(d) for names in lanes.values()) for d in queues}
        active_lock = threading.Lock()

        def take(dev_name: str) -> Job | None:
            try:
                return queues[dev_name].popleft()
            except IndexError:
                return None

        def lane_worker(lane_name: str, dev_names: list[str]) -> None:
            for dev_name in dev_names:
                device = self.lab.devices[dev_name]
                try:
                    self._device_turns(self._lane(f"{lane_name}/{dev_name}", device), queues[dev_name], take,
                                       record, on_start, shared=active[dev_name] > 1, overrides=overrides,
                                       store_as=store_as or self.id)
                except Exception as e:  # a bug of ours: keep the campaign going, record the rest
                    while (j := take(dev_name)) is not None:
                        record(j, _error_trial(device, j, self.id, f"internal error: {e!r}", Status.INTERNAL_ERROR))
                finally:
                    with active_lock:
                        active[dev_name] -= 1
                        last = active[dev_name] == 0
                    if last:    # no lane of this device is left: what remains cannot run
                        while (j := take(dev_name)) is not None:
                            record(j, _error_trial(device, j, self.id, "no board of this device could take the trial"))

        threads = [threading.Thread(target=lane_worker, args=(name, devs), name=f"lane-{name}", daemon=True)
                   for name, devs in lanes.items()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        results.sort(key=lambda r: r[0])
        return [t for _, t in results]

    def _device_turns(self, lane: _Lane, queue: deque, take, record, on_start, shared: bool,
                      overrides: dict | None = None, store_as: str = "") -> None:
        """Run the device's queued jobs on this lane until the queue is empty (or the lane gives up)."""
        device = lane.device
        if not queue:
            return
        try:
            opts = self._opts(device, overrides)
            transport = self._transport(lane, queue)
        except Exception as e:  # no transport or bad options: every job of this device is a device_error
            while (j := take(device.name)) is not None:
                record(j, _error_trial(device, j, store_as, prefixed(device.name, str(e))))
            return
        with lane.guard:
            while True:
                if transport.pooled:
                    # a board of a shared lab: hold one before taking a trial from the queue
                    if transport.place and not transport.still_ours():
                        self._event(device.name, f"place {transport.place} was taken away")
                        transport.close()
                    try:
                        transport.open()
                    except Exception as e:
                        if shared or not queue:
                            self._event(device.name, f"lane gives up: {without_prefix(str(e), device.name)}")
                            return         # the other lanes take the trials
                        j = take(device.name)
                        if j is not None:
                            self._device_failed(device, str(e))
                            record(j, _error_trial(device, j, store_as, prefixed(device.name, str(e))))
                        if self.quarantined(device):
                            return
                        continue
                j = take(device.name)
                if j is None:
                    return
                why = self.quarantined(device)
                if why:
                    record(j, _error_trial(device, j, store_as, why))
                    continue
                try:
                    waited = self._hold_lock(lane)
                except LockError as e:
                    self._device_failed(device, str(e))
                    record(j, _error_trial(device, j, store_as, f"device lock: {e}"))
                    continue
                self._call(on_start, j)
                t0 = time.monotonic()
                t = run_trial(self.lab.ws, device, self.lab.toolchain(device), transport, j.kernel, j.shape, opts,
                              campaign=store_as, extra_cflags=self.extra_cflags, prebuilt=self._prebuilt(j, device),
                              op=j.the_op)
                t.meta["dispatch"] = {"trial_wall_s": round(time.monotonic() - t0, 3), "lock_wait_s": round(waited, 3)}
                if transport.board:
                    t.meta["board"] = dict(transport.board)     # labgrid: place, hostname, address
                if t.status is Status.DEVICE_ERROR:
                    self._device_failed(device, t.error)
                    if not self.quarantined(device) and device.transport != "local":
                        self._event(device.name, f"device error ({shorten(without_prefix(t.error, device.name), 160)}); will reconnect")
                    if transport.pooled:
                        transport.close()     # give the board back; the next turn takes a (possibly other) one
                else:
                    self._health_of(device).consecutive = 0
                record(j, t)

    # ---- the one comparison --------------------------------------------------------------------
    def compare(self, device_name: str, a: Kernel, b: Kernel, shape, op: Op | None = None, *,
                trials: tuple[Trial | None, Trial | None] = (None, None), target: float = 0.02,
                budget_s: float = 60.0, store_as: str | None = None) -> Comparison:
        """Is `a` faster than `b` on the device (harness/measure/compare.py compare): modelled cycles of
        the two trials on emulated devices (measured here first when not given, and stored under
        `store_as` when given), a paired, interleaved run on real ones, on the device's lane and
        under its lock."""
        device = self.lab.devices[device_name]
        op = op or default_op()
        ta, tb = trials
        if device.emulated and (ta is None or tb is None):
            got = self.run([Job(k, device_name, tuple(shape), op) for k, t in ((a, ta), (b, tb)) if t is None],
                           store_as=store_as)
            it = iter(got)
            ta = ta or next(it, None)
            tb = tb or next(it, None)
        why = self.quarantined(device)
        if why:
            return Comparison(None, Status.DEVICE_ERROR, why)
        lane = self._lane(f"{_lane_name(device)}/{device.name}", device)
        with lane.guard:
            try:
                transport = self._transport(lane)
                if transport.pooled:
                    transport.open()
                self._hold_lock(lane)
            except Exception as e:
                self._device_failed(device, str(e))
                return Comparison(None, Status.DEVICE_ERROR, prefixed(device.name, str(e)))
            out = compare(self.lab.ws, device, self.lab.toolchain(device), transport, a, ta, b, tb, tuple(shape),
                          op=op, target=target, budget_s=budget_s, opts=self._opts(device))
        if out.status is Status.DEVICE_ERROR:
            self._device_failed(device, out.error)
        return out


def run_campaign(lab: Lab, jobs: Iterable[Job], store: Store, *, campaign: str | None = None,
                 overrides: dict | None = None, extra_cflags: tuple[str, ...] = (),
                 on_start: Callable[[Job], None] | None = None, on_trial: Callable[[Trial], None] | None = None,
                 on_event: Callable[[str, str], None] | None = None, resume: bool = False,
                 build_workers: int | None = None) -> list[Trial]:
    """One run() of a Campaign that is closed afterwards (a command that only runs trials)."""
    with Campaign(lab, store, campaign=campaign, overrides=overrides, extra_cflags=extra_cflags, on_event=on_event,
                  build_workers=build_workers) as c:
        return c.run(jobs, on_start=on_start, on_trial=on_trial, resume=resume)
