"""A campaign: every (kernel, device) trial of one command, each stored as soon as it ends.

Dispatch: one worker thread per *lane*; an SSH device is its own lane, a labgrid device has one
lane per matching place (its trials spread over the free boards), all local devices share
one lane (they share this machine's CPUs, so measuring them concurrently would distort each
other). Lanes run concurrently. Kernels are compiled ahead in a pool sized to the host's cores
while the devices measure. A lane takes the device's lock (harness.campaign.locks) when the device asks
for one, counts consecutive device errors and quarantines the device after
`device.quarantine_after` of them: its remaining trials are stored as device_error "quarantined"
and the campaign goes on with the other devices. Nothing raised by a device escapes.

`resume=True` with an existing campaign id re-runs only the trials that campaign has not
finished (a job whose latest stored trial has any status but device_error or internal_error counts
as finished); the campaign's result set is then the latest trial of each job (Store.campaign_trials).
"""
from __future__ import annotations

import os
import threading
from collections import deque
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from harness.backends import backend_for
from harness.config.devices import Device
from harness.campaign.locks import DeviceLock, LockError, lock_path
from harness.config.lab import Lab
from harness.ops import Op, default_op
from harness.core.records import Status, Trial
from harness.campaign.store import Store, job_key
from harness.transport import get_transport, transport_class
from harness.core.records import Kernel
from harness.measure.runner import MeasureOptions, build_kernel, run_trial


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


def _build_key(k: Kernel, tc, op: Op | None = None, threads: int = 1, device: Device | None = None) -> tuple:
    extra = backend_for(device).build_key(device) if device is not None else ()
    return (k.hash, k.name, k.allow_blas, k.libs, k.relax, k.cflags, tc.name, (op or default_op()).key, threads, extra)


def _lane(device: Device) -> str:
    if device.transport == "local":
        return "local"
    if device.transport == "ssh":
        return f"ssh:{device.host}:{device.port}"
    return f"{device.transport}:{device.name}"


def _error_trial(device: Device, j: Job, campaign: str, error: str, status: Status = Status.DEVICE_ERROR) -> Trial:
    return Trial(device=device.name, op=j.the_op.name, shape=tuple(j.shape), dtype=j.the_op.dtype, kernel=j.kernel.label,
                 source_hash=j.kernel.hash, status=status, error=error, arch=device.arch,
                 emulated=device.emulated, transport=device.transport, campaign=campaign)


def run_campaign(lab: Lab, jobs: Iterable[Job], store: Store, *, campaign: str | None = None,
                 overrides: dict | None = None, extra_cflags: tuple[str, ...] = (),
                 on_start: Callable[[Job], None] | None = None,
                 on_trial: Callable[[Trial], None] | None = None,
                 on_event: Callable[[str, str], None] | None = None,
                 resume: bool = False, build_workers: int | None = None) -> list[Trial]:
    """Run every job; returns the trials in job order. on_event(device, text) reports lock
    waits, reconnects and quarantines. Callbacks are called from worker threads, one at a time."""
    campaign = campaign or new_campaign_id()
    jobs = list(jobs)
    if resume:
        jobs = unfinished(store, campaign, jobs)
    order = {id(j): i for i, j in enumerate(jobs)}
    cb_lock, store_lock = threading.Lock(), threading.Lock()
    results: list[tuple[int, Trial]] = []
    recorded: set[int] = set()

    def call(fn, *args):
        if fn is not None:
            with cb_lock:
                fn(*args)

    def record(idx: int, t: Trial) -> None:
        with store_lock:
            store.add(t)
            results.append((idx, t))
            recorded.add(idx)
        call(on_trial, t)

    # compile ahead: one build per (kernel, toolchain), in a pool sized to the host's cores
    pool = ThreadPoolExecutor(max_workers=build_workers or os.cpu_count() or 2, thread_name_prefix="build")
    builds: dict[tuple, Future] = {}
    for j in jobs:
        tc = lab.toolchain(lab.devices[j.device])
        if tc is not None:
            threads = lab.devices[j.device].threads_allowed
            key = _build_key(j.kernel, tc, j.op, threads, lab.devices[j.device])
            if key not in builds:
                builds[key] = pool.submit(build_kernel, lab.ws, tc, j.kernel, extra_cflags, None, j.the_op, threads,
                                          lab.devices[j.device])

    # lanes: one worker per lane. Local devices share one lane; an SSH device is its own lane; a
    # device whose transport serves several boards at once (labgrid: the matching places) gets
    # that many lanes, which take its trials from one queue, one trial per board at a time.
    queues: dict[str, deque] = {}
    for j in jobs:
        queues.setdefault(j.device, deque()).append(j)
    lanes: dict[str, list[str]] = {}
    for dev_name in queues:
        device = lab.devices[dev_name]
        width = 1
        if device.transport not in ("local", "ssh"):
            try:
                lanes_of = getattr(transport_class(device.transport), "lanes", None)
                width = max(1, min(len(queues[dev_name]), lanes_of(device, lab.ws) if lanes_of else 1))
            except Exception:
                width = 1
        for k in range(width):
            lanes.setdefault(_lane(device) + (f"#{k}" if k else ""), []).append(dev_name)
    active = {d: sum(names.count(d) for names in lanes.values()) for d in queues}
    active_lock = threading.Lock()

    def take(dev_name: str) -> Job | None:
        try:
            return queues[dev_name].popleft()
        except IndexError:
            return None

    def lane_worker(dev_names: list[str]) -> None:
        for dev_name in dev_names:
            try:
                _device_worker(lab, lab.devices[dev_name])
            except Exception as e:  # a bug of ours: keep the campaign going, record the rest
                while (j := take(dev_name)) is not None:
                    record(order[id(j)], _error_trial(lab.devices[dev_name], j, campaign, f"internal error: {e!r}",
                                                      Status.INTERNAL_ERROR))
            finally:
                with active_lock:
                    active[dev_name] -= 1
                    last = active[dev_name] == 0
                if last:    # no lane of this device is left: what remains cannot run
                    while (j := take(dev_name)) is not None:
                        record(order[id(j)], _error_trial(lab.devices[dev_name], j, campaign,
                                                          "no board of this device could take the trial"))

    def _device_worker(lab: Lab, device: Device) -> None:
        if not queues[device.name]:
            return
        try:
            opts = MeasureOptions.for_device(device, **(overrides or {}))
            transport = get_transport(device, lab.ws)
        except Exception as e:  # no transport or bad options: every job of this device is a device_error
            while (j := take(device.name)) is not None:
                record(order[id(j)], _error_trial(device, j, campaign, str(e)))
            return
        lock: DeviceLock | None = None
        consecutive, last_error = 0, ""
        multi = active[device.name] > 1 or hasattr(transport, "open")
        if hasattr(transport, "on_event"):
            transport.on_event = lambda text, d=device.name: call(on_event, d, text)
        if hasattr(transport, "keep_waiting"):
            transport.keep_waiting = lambda d=device.name: bool(queues[d])
        with transport:
            try:
                while True:
                    if multi and hasattr(transport, "open"):
                        # a board of a shared lab: hold one before taking a trial from the queue
                        if getattr(transport, "place", None) and not transport.still_ours():
                            call(on_event, device.name, f"place {transport.place} was taken away")
                            transport.close()
                        try:
                            transport.open()
                        except Exception as e:
                            if active[device.name] > 1 or not queues[device.name]:
                                call(on_event, device.name, f"lane gives up: {e}")
                                return         # the other lanes take the trials
                            j = take(device.name)
                            if j is not None:
                                consecutive, last_error = consecutive + 1, str(e)
                                record(order[id(j)], _error_trial(device, j, campaign, f"{device.name}: {e}"))
                            if consecutive >= device.quarantine_after:
                                call(on_event, device.name, f"quarantined after {consecutive} consecutive device errors")
                                return
                            continue
                    j = take(device.name)
                    if j is None:
                        return
                    idx = order[id(j)]
                    if consecutive >= device.quarantine_after:
                        record(idx, _error_trial(device, j, campaign,
                                                 f"quarantined: {device.name} failed {consecutive} trials in a row "
                                                 f"(last: {last_error[:300]})"))
                        continue
                    waited = 0.0
                    if device.lock and (lock is None or not lock.held or lock.lost):
                        if lock is not None:
                            lock.release()
                        lock = DeviceLock(
                            transport, lock_path(transport), device.lock_lease_s, wait_s=device.lock_wait_s,
                            on_wait=lambda info, d=device.name: call(on_event, d, f"waiting for the lock: {info.describe()}"),
                            on_event=lambda text, d=device.name: call(on_event, d, text))
                        try:
                            lock.acquire()
                            waited = lock.waited_s
                        except LockError as e:
                            lock = None
                            consecutive, last_error = consecutive + 1, str(e)
                            record(idx, _error_trial(device, j, campaign, f"device lock: {e}"))
                            if consecutive == device.quarantine_after:
                                call(on_event, device.name, f"quarantined after {consecutive} consecutive device errors")
                            continue
                    tc = lab.toolchain(device)
                    prebuilt = None
                    if tc is not None:
                        f = builds.get(_build_key(j.kernel, tc, j.op, device.threads_allowed, device))
                        if f is not None:
                            try:
                                prebuilt = f.result()   # a failed build is a result too: no second compile
                            except Exception:
                                prebuilt = None         # run_trial builds again and reports the failure
                    call(on_start, j)
                    t0 = time.monotonic()
                    t = run_trial(lab.ws, device, tc, transport, j.kernel, j.shape, opts, campaign=campaign,
                                  extra_cflags=extra_cflags, prebuilt=prebuilt, op=j.the_op)
                    t.meta["dispatch"] = {"trial_wall_s": round(time.monotonic() - t0, 3),
                                          "lock_wait_s": round(waited, 3)}
                    if getattr(transport, "board", None):
                        t.meta["board"] = dict(transport.board)     # labgrid: place, hostname, address
                    if t.status is Status.DEVICE_ERROR:
                        consecutive, last_error = consecutive + 1, t.error
                        if consecutive == device.quarantine_after:
                            call(on_event, device.name, f"quarantined after {consecutive} consecutive device errors")
                        elif device.transport != "local":
                            call(on_event, device.name, f"device error ({t.error[:120]}); will reconnect")
                        if multi and hasattr(transport, "open"):
                            transport.close()     # give the board back; the next turn takes a (possibly other) one
                    else:
                        consecutive = 0
                    record(idx, t)
            finally:
                if lock is not None:
                    lock.release()

    threads = [threading.Thread(target=lane_worker, args=(lj,), name=f"lane-{name}", daemon=True)
               for name, lj in lanes.items()]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    results.sort(key=lambda r: r[0])
    return [t for _, t in results]
