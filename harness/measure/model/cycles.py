"""Modelled cycles of one kernel call: sum over executed blocks of count x steady-state cycles
of the block on the device's llvm-mca core model, divided by the number of counted regions.

Blocks llvm-mc cannot decode or llvm-mca cannot time fall back to 1 cycle per instruction;
`coverage` is the fraction of executed instructions that llvm-mca did time. The model assumes
every memory access hits L1 (see docs/CYCLE_MODEL.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.measure.model import mca
from harness.measure.model.profile import Profile, ProfileError, parse_blocks
from harness.core.workspace import Workspace

FALLBACK_CPI = 1.0


@dataclass(frozen=True)
class ModelResult:
    cycles_per_call: float | None      # None when no model could be computed (see error)
    insns_per_call: float
    model: str                          # e.g. "sifive-x280 (LLVM 19.1.7)"
    coverage: float = 0.0               # fraction of executed insns timed by llvm-mca
    vstate_unknown: float = 0.0         # RVV: fraction of executed insns in blocks entered with unknown vtype
    blocks: int = 0
    top_blocks: tuple[dict, ...] = field(default=(), compare=False)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.cycles_per_call is not None and not self.error

    def gflops(self, flops: float, clock_ghz: float) -> float | None:
        """Modelled GFLOP/s at the device's nominal clock."""
        if not self.ok or not self.cycles_per_call or clock_ghz <= 0:
            return None
        return flops / (self.cycles_per_call / clock_ghz)

    def to_json(self) -> dict:
        return asdict(self)


def default_cache_dir() -> Path:
    return Workspace.discover().cache / "mca"


def model_from_blocks(blocks: str | bytes | Profile, regions: int, device, *,
                      cache_dir: Path | None | bool = True, top: int = 5) -> ModelResult:
    """Modelled cycles per call from a plugin block profile (the `blocks=` file's content),
    the number of counted regions (the plugin record's `regions`) and the device (its
    core_model / mca_triple / mca_attr fields). Deterministic for the same profile and model.
    cache_dir: True = the workspace cache (.cache/mca), None/False = no cache, or a folder.
    Never raises for a bad profile or missing tools: the result's `error` says what went wrong."""
    label = getattr(device, "core_model", "") or "none"
    try:
        prof = blocks if isinstance(blocks, Profile) else parse_blocks(blocks)
    except ProfileError as e:
        return ModelResult(None, 0.0, label, error=f"bad block profile: {e}")
    if regions <= 0:
        return ModelResult(None, 0.0, label, error="no counted region in the profile (regions=0)")
    try:
        core = mca.core_model(device)
    except mca.ModelUnavailable as e:
        return ModelResult(None, prof.block_insns / regions, label, error=str(e))
    cache = mca.Cache(default_cache_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None))
    try:
        per_block = _block_costs(core, prof, cache)
    except (OSError, mca.subprocess.SubprocessError) as e:
        return ModelResult(None, prof.block_insns / regions, core.label, error=f"llvm-mca failed: {e}")

    total_cycles = 0.0
    total_insns = prof.block_insns
    timed_insns = 0
    unknown_insns = 0
    rows = []
    for b, cost in zip(prof.blocks, per_block):
        if cost is None:
            cyc = b.n_insns * FALLBACK_CPI
        else:
            cyc, modelled = cost
            skipped = max(0, b.n_insns - modelled)
            cyc += skipped * FALLBACK_CPI
            timed_insns += b.count * (b.n_insns - skipped)
        if core.is_riscv and b.vstate in ("unknown", "none") and cost is not None:
            unknown_insns += b.insns
        total_cycles += b.count * cyc
        rows.append((b.count * cyc, b, cyc, cost is not None))
    rows.sort(key=lambda r: -r[0])
    top_rows = tuple({"vaddr": hex(b.vaddr), "vstate": b.vstate, "execs_per_call": b.count / regions,
                      "n_insns": b.n_insns, "cycles_per_exec": round(cyc, 3),
                      "share": round(c / total_cycles, 4) if total_cycles else 0.0, "modelled": ok}
                     for c, b, cyc, ok in rows[:top])
    return ModelResult(
        cycles_per_call=total_cycles / regions,
        insns_per_call=total_insns / regions,
        model=core.label,
        coverage=timed_insns / total_insns if total_insns else 0.0,
        vstate_unknown=unknown_insns / total_insns if total_insns else 0.0,
        blocks=len(prof.blocks),
        top_blocks=top_rows,
    )


def _block_costs(core: mca.CoreModel, prof: Profile, cache: mca.Cache) -> list[tuple[float, int] | None]:
    vs = [b.vstate if core.is_riscv else "-" for b in prof.blocks]
    keys = [cache.key(core, b.code, v) for b, v in zip(prof.blocks, vs)]
    out: list[tuple[float, int] | None] = [None] * len(keys)
    missing = []
    for i, k in enumerate(keys):
        hit = cache.get(k)
        if hit is not None:
            out[i] = None if hit.get("cycles") is None else (float(hit["cycles"]), int(hit["modelled"]))
        else:
            missing.append(i)
    # identical (code, vstate) at different addresses are timed once
    uniq: dict[str, int] = {}
    for i in missing:
        uniq.setdefault(keys[i], i)
    order = list(uniq.values())
    asm = mca.disassemble(core, [(prof.blocks[i].code, prof.blocks[i].n_insns) for i in order])
    items, where = [], []
    fresh: dict[str, tuple[float, int] | None] = {}
    for i, lines in zip(order, asm):
        if lines:
            items.append((lines, vs[i]))
            where.append(i)
        else:
            fresh[keys[i]] = None
            cache.put(keys[i], {"cycles": None, "modelled": 0, "why": "llvm-mc cannot decode"})
    costs = mca.block_cycles(core, items)
    for i, cost, (lines, _) in zip(where, costs, items):
        fresh[keys[i]] = cost
        cache.put(keys[i], {"cycles": None if cost is None else cost[0],
                            "modelled": 0 if cost is None else cost[1], "asm": lines[:64]})
    for i in missing:
        out[i] = fresh.get(keys[i])
    return out
