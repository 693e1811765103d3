"""One trial's modelled cycles from the QEMU plugin's block profile: the model's outcome as the
runner stores it (never raised into a campaign)."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.config.devices import Device
from harness.measure.model.cycles import model_from_blocks

# ---- modelled cycles ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelOutcome:
    cycles: float | None = None
    name: str = ""
    error: str = ""
    meta: dict = field(default_factory=dict)


def modelled(ws, device: Device, blocks: bytes | None, regions: int) -> ModelOutcome:
    """Modelled cycles of one call from the QEMU plugin's block profile (harness.measure.model)."""
    if not blocks:
        return ModelOutcome(error="the QEMU plugin wrote no block profile")
    try:
        r = model_from_blocks(blocks, regions, device, cache_dir=ws.cache / "mca")
    except Exception as e:   # the model's failure is reported, never raised into the campaign
        return ModelOutcome(error=f"{type(e).__name__}: {e}")
    err = getattr(r, "error", "") or ""
    if err:
        return ModelOutcome(error=err)
    meta = {k: v for k, v in getattr(r, "__dict__", {}).items() if isinstance(v, (int, float, str))}
    return ModelOutcome(cycles=float(r.cycles_per_call), name=str(r.model), meta=meta)


