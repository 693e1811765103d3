"""Consecutive runs of a short loop on an out-of-order core: the overlap per-block costing misses.

The block model (cycles.py) costs every block by llvm-mca iterating it against itself. For a
loop whose body is one dependent chain (a dot product: one accumulator, one FMA after another)
that is the chain's latency per iteration; a real out-of-order core already runs the next entry's
chain, which is independent, while the current one drains (its reorder buffer holds ~200-350
micro-ops), so a loop of few iterations runs faster than its blocks say. Here such a loop is
costed as a whole: llvm-mca runs the sequence that one entry executes, the blocks that lead back
into the loop followed by the loop block repeated its trip count, iterated, and that sequence's
cycles replace the per-block cycles of those executions.

    a loop     a block whose successor is itself (a self-loop translation block), with a trip count
               T = executions / entries that is the same for every entry (executions = T x entries)
    its path   from its exit, the most frequent successor at each step back to the loop block
               (at most MAX_PATH blocks), each edge taken on at least PATH_FRACTION of the exits
    its cost   entries x cycles per iteration of llvm-mca over [path blocks..., loop block x T]

llvm-mca sees every register dependency of that sequence, so a chain carried from one entry to the
next in a register is charged as the chain it is. It does not see dependencies through memory (it
assumes loads and stores never alias): a loop whose path or body has a load that read what one of
the last 128 store instructions wrote (the plugin's store window, `f` lines of the profile; counted
per instruction, not per QEMU access, since a masked vector store reaches the plugin once per
element) on more than FWD_FRACTION of its entries is left to the per-block cost, as is a profile
without that watch (no simulated memory), a loop whose sequence would exceed MAX_SEQ_INSNS
instructions (a long chain: the overlap is then a small fraction, and the per-block cost stays),
any block llvm-mca could not time in full, and every in-order core (nothing to overlap). Regions
do not share blocks. A store further back than the window is covered by llvm-mca itself: its
reorder buffer (a load more than 2048 instructions on cannot dispatch before the store retires) and
the STORE_QUEUE limit given to it (128 stores on cannot either).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from harness.measure.model import mca
from harness.measure.model.profile import Profile

MAX_SEQ_INSNS = 4096     # instructions of one entry's sequence: beyond it the ROB overlap is < ~10%
MAX_PATH = 8             # blocks from the loop's exit back to it
PATH_FRACTION = 0.9      # each edge of the path taken on at least this fraction of the exits
MIN_SHARE = 0.01         # loops below this share of the block cycles are not worth a model run
MAX_LOOPS = 8            # the costliest loops of one profile
TRIP_SLACK = 0.02        # executions within 2% of T x entries: the trip count is the same each time
FWD_FRACTION = 0.01      # loads fed by a recent store, per entry, above which a loop is left alone
MIN_MCA_INSNS = 20000    # llvm-mca iterates a sequence until it has run at least this many
STORE_QUEUE = 56         # stores in flight in llvm-mca's run of a sequence (Skylake's store buffer; Ice
                         # Lake has 72): a store waiting on a chain holds its entry until it retires, so a
                         # chain carried through memory past more stores than the plugin's window (128)
                         # still serialises the sequence (the window and this limit overlap)


@dataclass(frozen=True)
class Loop:
    head: int                  # index into the profile's blocks: the self-loop block
    path: tuple[int, ...]      # blocks from its exit back to it, in order
    trips: int                 # executions of the head per entry
    entries: int               # entries through the path (the path's last edge into the head)


def find_loops(prof: Profile, per_exec: list[float | None], fully_timed: list[bool]) -> list[Loop]:
    """The loops of the profile this module may cost (module docstring), costliest first.
    per_exec: each block's per-block cycles per execution; fully_timed: llvm-mca timed all of the
    block's instructions (none charged the worst case) and its bytes were whole."""
    if not prof.has_edges or not prof.has_forwarding:
        return []
    node_of: dict[tuple[int, str], int] = {}
    ambiguous: set[tuple[int, str]] = set()
    for i, b in enumerate(prof.blocks):
        key = (b.vaddr, b.vstate)
        if key in node_of:
            ambiguous.add(key)     # retranslated with other bytes: the edges cannot tell them apart
        node_of[key] = i
    succ: dict[int, list[tuple[int, int]]] = {}
    for (src, dst), n in prof.edges.items():
        if src in ambiguous or dst in ambiguous or src not in node_of or dst not in node_of:
            continue
        succ.setdefault(node_of[src], []).append((node_of[dst], n))

    def usable(i: int) -> bool:
        b = prof.blocks[i]
        return per_exec[i] is not None and fully_timed[i] and not prof.dropped_edges.get(b.vaddr)

    total = sum(b.count * c for b, c in zip(prof.blocks, per_exec) if c is not None) or 1.0
    found: list[tuple[float, Loop]] = []
    for h, b in enumerate(prof.blocks):
        outs = dict(succ.get(h, []))
        back = outs.pop(h, 0)
        if not back or not outs or not usable(h):
            continue
        entries_all = b.count - back
        if entries_all <= 0:
            continue
        trips = round(b.count / entries_all)
        if trips < 1 or abs(b.count - trips * entries_all) > TRIP_SLACK * b.count:
            continue
        path = _path_back(h, outs, succ)
        if path is None or not all(usable(p) for p in path):
            continue
        # entries through the path; never more than any of its blocks ran (a block the path shares
        # with another route into the loop must not have more executions re-costed than it had)
        entries = min(dict(succ.get(path[-1], [])).get(h, 0), b.count // trips,
                      *(prof.blocks[p].count for p in path))
        insns = trips * b.n_insns + sum(prof.blocks[p].n_insns for p in path)
        if entries <= 0 or insns > MAX_SEQ_INSNS:
            continue
        # a dependency through memory llvm-mca would not see: a load fed by a recent store, in
        # more than FWD_FRACTION of the entries (a spill, or a chain carried in memory)
        if sum(prof.forwarded.get(prof.blocks[i].vaddr, 0) for i in (h, *path)) > FWD_FRACTION * entries_all:
            continue
        cost = entries * (trips * per_exec[h] + sum(per_exec[p] for p in path))
        if cost >= MIN_SHARE * total:
            found.append((cost, Loop(h, tuple(path), trips, entries)))
    found.sort(key=lambda t: -t[0])
    out, used = [], set()
    for _c, lp in found:
        nodes = {lp.head, *lp.path}
        if nodes & used:
            continue
        used |= nodes
        out.append(lp)
        if len(out) == MAX_LOOPS:
            break
    return out


def _path_back(head: int, exits: dict[int, int], succ: dict[int, list[tuple[int, int]]]) -> list[int] | None:
    """From the head's most frequent exit, the most frequent successor at each step, back to the
    head; None if it does not return within MAX_PATH blocks along edges taken on at least
    PATH_FRACTION of the exits."""
    node, n_exit = max(exits.items(), key=lambda kv: kv[1])
    path: list[int] = []
    while node != head:
        if node in path or len(path) == MAX_PATH:
            return None
        path.append(node)
        nxt = succ.get(node)
        if not nxt:
            return None
        node, n = max(nxt, key=lambda kv: kv[1])
        if n < PATH_FRACTION * n_exit:
            return None
    return path or None


def sequence(lp: Loop, asm: dict[int, list[str]]) -> list[str]:
    """What one entry executes: the path's blocks, then the loop block `trips` times."""
    return [line for p in lp.path for line in asm[p]] + asm[lp.head] * lp.trips


def sequence_cycles(core: mca.CoreModel, seq: list[str], cache: mca.Cache) -> float | None:
    """llvm-mca's cycles per iteration of the sequence (iterated until MIN_MCA_INSNS have run;
    cached by its text); None if llvm-mca cannot time all of it."""
    if any(mca.untimed(core, a) for a in seq):
        return None
    iterations = max(4, math.ceil(MIN_MCA_INSNS / max(1, len(seq))))
    text = "\n".join(seq)
    key = cache.key(core, hashlib.sha256(text.encode()).digest(), f"loop|{iterations}|sq{STORE_QUEUE}")
    hit = cache.get(key)
    if hit is not None:
        return hit.get("cycles")
    try:
        got = mca.sequence_cycles(core, seq, iterations, STORE_QUEUE)
    except (OSError, mca.subprocess.SubprocessError):
        return None
    cycles = got[0] if got and got[1] == len(seq) else None
    cache.put(key, {"cycles": cycles, "insns": len(seq), "iterations": iterations})
    return cycles


def overlap_adjustment(core: mca.CoreModel, prof: Profile, per_exec: list[float | None],
                       fully_timed: list[bool], asm_of, cache: mca.Cache) -> tuple[float, list[dict]]:
    """Cycles (all regions) to add to the per-block total, negative where loops overlap, and a
    row per loop costed (for the result's diagnostics). asm_of(indices) -> {index: asm lines}."""
    loops = find_loops(prof, per_exec, fully_timed)
    if not loops:
        return 0.0, []
    asm = asm_of(sorted({i for lp in loops for i in (lp.head, *lp.path)}))
    delta, rows = 0.0, []
    for lp in loops:
        if any(not asm.get(i) for i in (lp.head, *lp.path)):
            continue
        whole = sequence_cycles(core, sequence(lp, asm), cache)
        if whole is None:
            continue
        blockwise = lp.trips * per_exec[lp.head] + sum(per_exec[p] for p in lp.path)
        delta += lp.entries * (whole - blockwise)
        rows.append({"vaddr": hex(prof.blocks[lp.head].vaddr), "trips": lp.trips, "entries": lp.entries,
                     "path_blocks": len(lp.path), "cycles_per_entry": round(whole, 1),
                     "blockwise_per_entry": round(blockwise, 1)})
    return delta, rows
