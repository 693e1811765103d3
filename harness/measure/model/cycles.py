"""Modelled cycles of one kernel call: sum over executed blocks of count x steady-state cycles
of the block on the device's llvm-mca core model, divided by the number of counted regions.

What the model cannot see in the program's own code (the kernel's) is charged pessimistically,
never cheaper than the truth: an instruction llvm-mc cannot decode or llvm-mca cannot time costs
mca.worst_cpi (the slowest instruction the core model knows); in a library's code (libc, libm,
OpenBLAS: not the kernel's to write) it costs LIBRARY_CPI. A RISC-V block whose vector state is
unknown is costed under the worst state (mca.worst_case_variants). `coverage` is the fraction of executed instructions
that llvm-mca did time. These are core cycles (every memory access an L1 hit); the memory hierarchy
is added by harness/measure/model/memory.py (docs/CYCLE_MODEL.md, "Memory").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.measure.model import loops, mca, memory
from harness.measure.model.profile import Profile, ProfileError, parse_blocks
from harness.core.workspace import Workspace



@dataclass(frozen=True)
class ModelResult:
    cycles_per_call: float | None      # None when no model could be computed (see error)
    insns_per_call: float
    model: str                          # e.g. "sifive-x280 (LLVM 19.1.7)"
    coverage: float = 0.0               # fraction of executed insns timed by llvm-mca
    vstate_unknown: float = 0.0         # RVV: fraction of executed insns in blocks entered with unknown vtype
    blocks: int = 0
    loop_overlap: float = 0.0           # cycles per call the loop-sequence costing added (< 0: overlap; loops.py)
    throughput_share: float = 1.0       # the blocks' cycles their resources alone explain (the rest: dependency chains)
    top_blocks: tuple[dict, ...] = field(default=(), compare=False)
    loops: tuple[dict, ...] = field(default=(), compare=False)
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
                      cache_dir: Path | None | bool = True, top: int = 5,
                      program: list[tuple[int, bytes]] = ()) -> ModelResult:
    """Modelled cycles per call from a plugin block profile (what it wrote to its `blocks=` descriptor),
    the number of counted regions (the plugin record's `regions`) and the device (its
    core_model / mca_triple / mca_attr fields). Deterministic for the same profile and model.
    cache_dir: True = the workspace cache (.cache/mca), None/False = no cache, or a folder.
    program: (address, bytes) of the program's executable segments: a block there whose last
    instruction the plugin reported cut short (QEMU 7.2 gives only the first page's bytes of an
    instruction that crosses a page) is completed from the program's own bytes; elsewhere (a
    library) such an instruction costs LIBRARY_CPI.
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
        per_block = _block_costs(core, prof, cache, list(program))
    except (OSError, mca.subprocess.SubprocessError) as e:
        return ModelResult(None, prof.block_insns / regions, core.label, error=f"llvm-mca failed: {e}")

    worst = mca.worst_cpi(core, cache)
    total_cycles = 0.0
    total_insns = prof.block_insns
    timed_insns = 0
    unknown_insns = 0
    rows = []
    bound_by_resources = 0.0
    execs: dict[int, int] = {}
    for b in prof.blocks:
        execs[b.vaddr] = execs.get(b.vaddr, 0) + b.count
    near_per_exec = {va: n / execs[va] for va, n in prof.forwarded_near.items() if execs.get(va)}
    per_exec: list[float | None] = []
    whole: list[bool] = []
    for b, cost in zip(prof.blocks, per_block):
        # the kernel's (and the driver's) own code: what the model cannot see costs the worst case;
        # a library's code (libc, libm, OpenBLAS) is not the kernel's to write: its few untimed
        # instructions (OpenBLAS's fences) cost LIBRARY_CPI, as llvm-mca's skipped ones always did
        unseen = worst if _in_program(b, program) else LIBRARY_CPI
        if cost is None:
            cyc = b.n_insns * unseen
            bound_by_resources += b.count * cyc          # charged per instruction: no chain to hide under
        else:
            cyc, modelled, rthr = cost
            skipped = max(0, b.n_insns - modelled)
            cyc += skipped * unseen
            bound_by_resources += b.count * (min(cost[0], rthr) + skipped * unseen)
            timed_insns += b.count * (b.n_insns - skipped)
        # a recurrence through memory llvm-mca cannot see (it never aliases loads with stores): a load
        # fed by a store a few instructions before waits at least the store-to-load forwarding
        # latency (red team: a sum kept in a volatile modelled 3x below its cost)
        cyc = max(cyc, near_per_exec.get(b.vaddr, 0.0) * FORWARD_CYCLES)
        per_exec.append(cyc)
        whole.append(cost is not None and cost[1] >= b.n_insns and not _cut_at_page(b))
        if core.is_riscv and b.vstate == "unknown":
            unknown_insns += b.insns
        total_cycles += b.count * cyc
        rows.append((b.count * cyc, b, cyc, cost is not None))
    blockwise_total = total_cycles
    overlap, loop_rows = 0.0, []
    h = memory.HIERARCHIES.get(core.cpu)
    if h is not None and h.out_of_order:
        def asm_of(idx: list[int]) -> dict[int, list[str]]:
            got = mca.disassemble(core, [(prof.blocks[i].code, prof.blocks[i].n_insns) for i in idx])
            return {i: a for i, a in zip(idx, got) if a}
        try:
            overlap, loop_rows = loops.overlap_adjustment(core, prof, per_exec, whole, asm_of, cache)
        except (OSError, mca.subprocess.SubprocessError):
            overlap, loop_rows = 0.0, []
        total_cycles += overlap
    rows.sort(key=lambda r: -r[0])
    top_rows = tuple({"vaddr": hex(b.vaddr), "vstate": b.vstate, "execs_per_call": b.count / regions,
                      "n_insns": b.n_insns, "cycles_per_exec": round(cyc, 3),
                      "share": round(c / blockwise_total, 4) if blockwise_total else 0.0, "modelled": ok}
                     for c, b, cyc, ok in rows[:top])
    return ModelResult(
        cycles_per_call=total_cycles / regions,
        insns_per_call=total_insns / regions,
        model=core.label,
        coverage=timed_insns / total_insns if total_insns else 0.0,
        vstate_unknown=unknown_insns / total_insns if total_insns else 0.0,
        blocks=len(prof.blocks),
        loop_overlap=overlap / regions,
        throughput_share=bound_by_resources / blockwise_total if blockwise_total else 1.0,
        top_blocks=top_rows,
        loops=tuple(loop_rows),
    )


MAX_INSN_BYTES = 15      # the longest instruction of any ISA modelled (x86)
LIBRARY_CPI = 1.0        # cycles per untimed instruction of library code
FORWARD_CYCLES = 5.0     # store-to-load forwarding latency (Intel since Haswell, Arm Neoverse: 4-5 cycles)


def _in_program(b, program) -> bool:
    """The block lies in the program's own code (or no program map was given: assume it does)."""
    return not program or any(start <= b.vaddr < start + len(data) for start, data in program)


def _continuation(b, program: list[tuple[int, bytes]]) -> bytes:
    """The program's bytes right after the block's (the rest of a cut-short last instruction), if
    the block lies in the program: part of the block's identity for the cost cache."""
    for start, data in program:
        if start <= b.vaddr < start + len(data):
            end = b.vaddr - start + len(b.code)
            return data[end:end + MAX_INSN_BYTES]
    return b""


PAGE = 4096


def _cut_at_page(b) -> bool:
    """QEMU 7.2 gives a plugin only the first page's bytes of an instruction that crosses a page:
    a block whose bytes end exactly at a page boundary may have its last instruction cut short."""
    return (b.vaddr + len(b.code)) % PAGE == 0


def _complete(core: mca.CoreModel, code: bytes, n: int, more: bytes) -> list[str] | None:
    """A block whose last instruction may be cut short: completed from the program's next bytes
    (one to 15 of them) when that decodes into exactly its n instructions; None when it does not
    (the last instruction was whole)."""
    for k in range(1, len(more) + 1):
        lines = mca.disassemble(core, [(code + more[:k], n)])[0]
        if lines:
            return lines
    return None


def _block_costs(core: mca.CoreModel, prof: Profile, cache: mca.Cache,
                 program: list[tuple[int, bytes]] = ()) -> list[tuple[float, int, float] | None]:
    vs = [b.vstate if core.is_riscv else "-" for b in prof.blocks]
    more = [_continuation(b, program) for b in prof.blocks]
    keys = [cache.key(core, b.code + m, v + f"|{len(b.code)}") for b, m, v in zip(prof.blocks, more, vs)]
    out: list[tuple[float, int, float] | None] = [None] * len(keys)
    missing = []
    for i, k in enumerate(keys):
        hit = cache.get(k)
        if hit is not None:
            out[i] = None if hit.get("cycles") is None else (float(hit["cycles"]), int(hit["modelled"]),
                                                             float(hit.get("rthroughput", hit["cycles"])))
        else:
            missing.append(i)
    # identical (code, vstate) at different addresses are timed once
    uniq: dict[str, int] = {}
    for i in missing:
        uniq.setdefault(keys[i], i)
    order = list(uniq.values())
    asm = mca.disassemble(core, [(prof.blocks[i].code, prof.blocks[i].n_insns) for i in order])
    for j, i in enumerate(order):
        b = prof.blocks[i]
        if _cut_at_page(b) and more[i]:            # in the program: complete it from its bytes
            asm[j] = _complete(core, b.code, b.n_insns, more[i]) or asm[j]
        elif _cut_at_page(b) and not asm[j] and b.n_insns > 1:
            # in a library: its first n-1 instructions, the cut one left unmodelled (LIBRARY_CPI)
            asm[j] = mca.disassemble_prefix(core, b.code, b.n_insns - 1)
    items, owner = [], []
    fresh: dict[str, tuple[float, int, float] | None] = {}
    for i, lines in zip(order, asm):
        if not lines:          # not decodable into exactly the instructions that ran: worst case
            fresh[keys[i]] = None
            cache.put(keys[i], {"cycles": None, "modelled": 0, "why": "llvm-mc cannot decode"})
            continue
        for variant in mca.worst_case_variants(lines, vs[i], core.is_riscv, core.lmul_shift):
            items.append(variant)
            owner.append(i)
    costs = mca.block_cycles(core, items)
    per: dict[int, list] = {}
    for i, cost in zip(owner, costs):
        per.setdefault(i, []).append(cost)
    for i, got in per.items():
        # the most expensive variant; a variant llvm-mca could not time makes the block worst case
        cost = None if any(c is None for c in got) else (max(c[0] for c in got), min(c[1] for c in got),
                                                         max(c[2] for c in got))
        fresh[keys[i]] = cost
        cache.put(keys[i], {"cycles": None if cost is None else cost[0],
                            "modelled": 0 if cost is None else cost[1],
                            "rthroughput": None if cost is None else cost[2], "variants": len(got)})
    for i in missing:
        out[i] = fresh.get(keys[i])
    return out
