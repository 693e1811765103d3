"""A campaign: every (kernel, device) trial of one command, each stored as soon as it ends."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from .lab import Lab
from .records import Status, Trial
from .store import Store
from .transport.base import get_transport
from .trial import Kernel, MeasureOptions, run_trial


@dataclass(frozen=True)
class Job:
    kernel: Kernel
    device: str
    shape: tuple[int, int, int]


def new_campaign_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def run_campaign(lab: Lab, jobs: Iterable[Job], store: Store, *, campaign: str | None = None,
                 overrides: dict | None = None, extra_cflags: tuple[str, ...] = (),
                 on_start: Callable[[Job], None] | None = None,
                 on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
    campaign = campaign or new_campaign_id()
    jobs = list(jobs)
    by_device: dict[str, list[Job]] = {}
    for j in jobs:
        by_device.setdefault(j.device, []).append(j)
    results: list[Trial] = []
    for dev_name, dev_jobs in by_device.items():
        device = lab.devices[dev_name]
        opts = MeasureOptions.for_device(device, **(overrides or {}))
        try:
            transport = get_transport(device, lab.ws)
        except Exception as e:  # no transport: every job of this device is a device_error
            for j in dev_jobs:
                t = Trial(device=dev_name, op="gemm", shape=j.shape, dtype="f32", kernel=j.kernel.label,
                          source_hash=j.kernel.hash, status=Status.DEVICE_ERROR, error=str(e), arch=device.arch,
                          emulated=device.emulated, transport=device.transport, campaign=campaign)
                store.add(t)
                results.append(t)
                on_trial and on_trial(t)
            continue
        with transport:
            for j in dev_jobs:
                on_start and on_start(j)
                t = run_trial(lab.ws, device, lab.toolchain(device), transport, j.kernel, j.shape, opts,
                              campaign=campaign, extra_cflags=extra_cflags)
                store.add(t)
                results.append(t)
                on_trial and on_trial(t)
    return results
