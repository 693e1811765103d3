"""One trial's modelled cycles from the QEMU plugin's block profile: the model's outcome as the
runner stores it (never raised into a campaign)."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.config.devices import Device
from harness.measure.model import memory
from harness.measure.model.cycles import model_from_blocks
from harness.measure.model.profile import ProfileError, check_code, check_profile, parse_blocks

# ---- modelled cycles ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelOutcome:
    cycles: float | None = None
    name: str = ""
    error: str = ""
    meta: dict = field(default_factory=dict)
    rejected: bool = False        # the profile contradicts the plugin's record or the program: the kernel's doing


def modelled(ws, device: Device, blocks: bytes | None, plugin: dict,
             exe_segments: list[tuple[int, bytes]] = ()) -> ModelOutcome:
    """Modelled cycles of one call from the QEMU plugin's block profile (harness.measure.model),
    after checking the profile against the plugin's own record (regions, instruction count) and
    the program's bytes (exe_segments: the linked program's executable segments)."""
    if not blocks:
        return ModelOutcome(error="the QEMU plugin wrote no block profile")
    try:
        prof = parse_blocks(blocks)
    except ProfileError as e:
        return ModelOutcome(error=f"bad block profile: {e}", rejected=True)
    why = check_profile(prof, plugin) or check_code(prof, list(exe_segments))
    if why:
        return ModelOutcome(error=why, rejected=True)
    regions = int(plugin.get("regions") or 0)
    try:
        r = model_from_blocks(prof, regions, device, cache_dir=ws.cache / "mca", program=list(exe_segments))
    except Exception as e:   # the model's failure is reported, never raised into the campaign
        return ModelOutcome(error=f"{type(e).__name__}: {e}")
    err = getattr(r, "error", "") or ""
    if err:
        return ModelOutcome(error=err)
    meta = {k: v for k, v in getattr(r, "__dict__", {}).items() if isinstance(v, (int, float, str))}
    cycles, name = float(r.cycles_per_call), str(r.model)
    h = memory.for_device(device)
    if h is not None:
        if not isinstance(plugin.get("mem"), dict):
            return ModelOutcome(error="the QEMU plugin simulated no memory hierarchy (an old plugin? run `make setup`)")
        cost = memory.combine(cycles, plugin["mem"], regions, h, r.throughput_share, r.insns_per_call)
        meta.update(cost.to_json())
        cycles, name = cost.cycles, f"{name} + memory"
    return ModelOutcome(cycles=cycles, name=name, meta=meta)
