"""The measurement procedure's options: one home for their names, types and defaults.

devices.yaml `measure:` blocks are validated against these fields (harness.config.devices),
and the CLI's overrides are applied with `MeasureOptions.for_device`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config.devices import Device


@dataclass(frozen=True)
class MeasureOptions:
    """The measurement procedure (pyperf-style): warm-up calls are discarded, the inner-loop
    count is calibrated so one sample lasts >= min_sample_s, and samples are taken until the
    95% CI of the median is within rel_ci of it, or max_samples / max_time_s is reached."""

    warmup: int = 2
    min_sample_s: float = 0.01
    min_samples: int = 10
    max_samples: int = 100
    max_time_s: float = 3.0
    rel_ci: float = 0.01
    flush: bool = False                  # write a 32 MiB buffer before each sample (cold caches)
    flush_bytes: int = 32 << 20

    @classmethod
    def for_device(cls, device: Device, **overrides) -> "MeasureOptions":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in device.measure.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None and k in names})
        return cls(**values)

    def driver_args(self) -> list[str]:
        return [f"warmup={self.warmup}", f"min_sample_s={self.min_sample_s}", f"min_samples={self.min_samples}",
                f"max_samples={self.max_samples}", f"max_time_s={self.max_time_s}", f"rel_ci={self.rel_ci}",
                f"flush_bytes={self.flush_bytes if self.flush else 0}"]
