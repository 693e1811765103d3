"""The measurement procedure's options: one home for their names, types and defaults (the
sampling policy). devices.yaml `measure:` blocks are validated against these fields
(harness.config.devices), and the CLI's overrides are applied with `MeasureOptions.for_device`.
The stopping rule itself runs in the C timing driver (normal approximation of the binomial
ranks); harness.core.stats reports the exact interval of what was measured.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


class UnknownOption(ValueError):
    pass


@dataclass(frozen=True)
class MeasureOptions:
    """The measurement procedure (pyperf-style): warm-up calls are verified and discarded; one
    sample holds enough calls (each on its own fresh input set, at most max_sets) to last
    >= min_sample_s; samples are taken until the 95% CI of the median is within rel_ci of it,
    or max_samples / max_time_s is reached."""

    warmup: int = 2
    min_sample_s: float = 0.001
    min_samples: int = 10
    max_samples: int = 100
    max_time_s: float = 3.0
    rel_ci: float = 0.01
    max_sets: int = 16                   # input sets one sample rotates through (>= 2)
    flush: bool = False                  # write a 32 MiB buffer before each sample (cold caches)
    flush_bytes: int = 32 << 20

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def for_device(cls, device, **overrides) -> "MeasureOptions":
        """The `measure:` options of `device` (a harness.config.devices.Device) with the caller's
        overrides; an unknown name is an error (devices.yaml is validated at load time; this catches callers' typos)."""
        names = cls.names()
        unknown = sorted(k for k, v in {**device.measure, **overrides}.items() if k not in names and v is not None)
        if unknown:
            raise UnknownOption(f"unknown measure option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        values = dict(device.measure)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def request_options(self) -> dict:
        """The options as the timing driver's request lines."""
        return {"warmup": self.warmup, "min_sample_s": self.min_sample_s, "min_samples": self.min_samples,
                "max_samples": self.max_samples, "max_time_s": self.max_time_s, "rel_ci": self.rel_ci,
                "max_sets": self.max_sets, "flush_bytes": self.flush_bytes if self.flush else 0}
