"""Limits of a run: how long it may take, and what figure is physically possible.

- `timeouts(device, shape, opts, check_flops, op)`: the check run's and the timed run's time
  limits: the device's fixed allowance plus the work at a conservative floor on throughput
  (device.slow_gflops), so a big shape on a slow device is not cut short while an endless loop
  on a small one is killed within seconds;
- `peak_check(device, trial)`: '' when the figure is possible on the device, else why not (the
  device's backend knows its ceiling: harness/backends/cpu/peak.py, harness/backends/cuda/peak.py).
"""
from __future__ import annotations

from harness.backends import backend_for
from harness.config.devices import Device
from harness.core.measure_options import MeasureOptions
from harness.core.records import Trial
from harness.ops import Op, default_op


def timeouts(device: Device, shape, opts: MeasureOptions, check_flops: float, op: Op | None = None
             ) -> tuple[float, float]:
    """(check run, timed run) limits in seconds. The timed phase also pays for regenerating and
    verifying inputs (O(MK+KN+MN) per call)."""
    op = op or default_op()
    per_call = op.flops(shape) / (device.slow_gflops * 1e9)
    t_check = device.timeout_s + check_flops / (device.slow_gflops * 1e9)
    overhead = 60e-9 * op.io_elements(shape)
    sample = max(per_call, opts.min_sample_s) + opts.max_sets * overhead
    t_time = device.timeout_s + (2 + opts.warmup) * (per_call + overhead) + 2 * opts.max_time_s + \
        (4 + max(opts.min_samples, 3)) * sample * 1.5
    return t_check, t_time


def peak_check(device: Device, trial: Trial) -> str:
    return backend_for(device).peak_check(device, trial)
