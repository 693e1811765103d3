"""The one objective: how fast is a trial, and is it faster than another (DESIGN.md).

Real devices: time (median seconds per call); comparisons between two kernels are paired,
interleaved runs (see `paired`). Emulated devices: modelled cycles per call (deterministic).
An instruction count is never a speed. Every "faster" in tensorop comes from this module.
"""
from __future__ import annotations

from .records import Status, Trial


def metric(trial: Trial) -> str:
    """"modelled_cycles" on emulated devices, "time" on real ones."""
    return "modelled_cycles" if trial.emulated else "time"


def cost(trial: Trial) -> float | None:
    """Lower is faster. None when the trial has no trusted figure (not ok, or no model)."""
    if trial.status is not Status.OK:
        return None
    if trial.emulated:
        return trial.cycles
    return trial.summary.median if trial.summary else None
