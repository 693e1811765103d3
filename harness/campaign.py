"""A campaign: every (kernel, device) trial of one command, each stored as soon as it ends.

Dispatch: one worker thread per *lane*; an SSH device is its own lane, all local devices share
one lane (they share this machine's CPUs, so measuring them concurrently would distort each
other). Lanes run concurrently. Kernels are compiled ahead in a pool sized to the host's cores
while the devices measure. A lane takes the device's lock (harness.devlock) when the device asks
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
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from .config.devices import Device
from .devlock import DeviceLock, LockError, LockInfo, lock_path
from .lab import Lab
from .records import Status, Trial
from .store import Store, job_key
from .transport import get_transport
from .trial import Kernel, MeasureOptions, build_kernel, run_trial


@dataclass(frozen=True)
class Job:
    kernel: Kernel
    device: str
    shape: tuple[int, int, int]


def new_campaign_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def unfinished(store: Store, campaign: str, jobs: list[Job]) -> list[Job]:
    """The jobs whose latest trial in the campaign is missing, a device_error or an internal_error."""
    keys = [job_key(j.device, j.kernel.label, j.kernel.hash, "gemm", j.shape, "f32") for j in jobs]
    return [jobs[i] for i in store.unfinished(campaign, keys)]


def _build_key(k: Kernel, tc) -> tuple:
    return (k.hash, k.name, k.allow_blas, k.libs, k.relax, tc.name)


def _lane(device: Device) -> str:
    if device.transport == "local":
        return "local"
    return f"{device.transport}:{device.host}:{device.port}"


def _error_trial(device: Device, j: Job, campaign: str, error: str, status: Status = Status.DEVICE_ERROR) -> Trial:
    return Trial(device=device.name, op="gemm", shape=tuple(j.shape), dtype="f32", kernel=j.kernel.label,
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
            key = _build_key(j.kernel, tc)
            if key not in builds:
                builds[key] = pool.submit(build_kernel, lab.ws, tc, j.kernel, extra_cflags)

    lanes: dict[str, list[Job]] = {}
    for j in jobs:
        lanes.setdefault(_lane(lab.devices[j.device]), []).append(j)

    def lane_worker(lane_jobs: list[Job]) -> None:
        by_device: dict[str, list[Job]] = {}
        for j in lane_jobs:
            by_device.setdefault(j.device, []).append(j)
        for dev_name, dev_jobs in by_device.items():
            try:
                _device_worker(lab, lab.devices[dev_name], dev_jobs)
            except Exception as e:  # a bug of ours: keep the campaign going, record the rest
                for j in dev_jobs:
                    if order[id(j)] not in recorded:
                        record(order[id(j)], _error_trial(lab.devices[dev_name], j, campaign, f"internal error: {e!r}",
                                                          Status.INTERNAL_ERROR))

    def _device_worker(lab: Lab, device: Device, dev_jobs: list[Job]) -> None:
        try:
            opts = MeasureOptions.for_device(device, **(overrides or {}))
            transport = get_transport(device, lab.ws)
        except Exception as e:  # no transport or bad options: every job of this device is a device_error
            for j in dev_jobs:
                record(order[id(j)], _error_trial(device, j, campaign, str(e)))
            return
        lock: DeviceLock | None = None
        consecutive, last_error = 0, ""
        with transport:
            try:
                for j in dev_jobs:
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
                        f = builds.get(_build_key(j.kernel, tc))
                        if f is not None:
                            try:
                                prebuilt = f.result()   # a failed build is a result too: no second compile
                            except Exception:
                                prebuilt = None         # run_trial builds again and reports the failure
                    call(on_start, j)
                    t0 = time.monotonic()
                    t = run_trial(lab.ws, device, tc, transport, j.kernel, j.shape, opts, campaign=campaign,
                                  extra_cflags=extra_cflags, prebuilt=prebuilt)
                    t.meta["dispatch"] = {"trial_wall_s": round(time.monotonic() - t0, 3),
                                          "lock_wait_s": round(waited, 3)}
                    if t.status is Status.DEVICE_ERROR:
                        consecutive, last_error = consecutive + 1, t.error
                        if consecutive == device.quarantine_after:
                            call(on_event, device.name, f"quarantined after {consecutive} consecutive device errors")
                        elif device.transport == "ssh":
                            call(on_event, device.name, f"device error ({t.error[:120]}); will reconnect")
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
