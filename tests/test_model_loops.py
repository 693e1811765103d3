"""Consecutive short loops on an out-of-order core (harness/measure/model/loops.py): the plugin's
edges and store window, the loop finder on constructed profiles, and on real kernels under real
QEMU: independent dot-product chains overlap (modelled cheaper than block by block), while the
same chains carried from one entry to the next, in a register or through memory, are not
discounted."""
from __future__ import annotations

import random

import pytest

from harness.measure.model import loops, model_from_blocks, parse_blocks
from harness.measure.model.profile import Block, Profile, ProfileError
from harness.measure.model.run import profile_artifact

from conftest import REPO, requires_qemu
from test_model import _build, requires_mca


def _profile(head_count, entries, path_counts, *, fwd=None, watch=True, extra_exit=0):
    """A self-loop block 0x100 entered `entries` times through a path of blocks 0x200, 0x300...;
    path_counts[k]: executions of the k-th path block (the edge into it)."""
    blocks = [Block(0x100, "-", head_count, 4, b"\x90" * 4)]
    path = [0x200 + 0x100 * k for k in range(len(path_counts))]
    blocks += [Block(a, "-", c, 2, b"\x90" * 2) for a, c in zip(path, path_counts)]
    edges = {((0x100, "-"), (0x100, "-")): head_count - entries}
    edges[((0x100, "-"), (path[0], "-"))] = path_counts[0]
    if extra_exit:
        edges[((0x100, "-"), (0x900, "-"))] = extra_exit
    for a, b, c in zip(path, path[1:], path_counts[1:]):
        edges[((a, "-"), (b, "-"))] = c
    edges[((path[-1], "-"), (0x100, "-"))] = entries
    return Profile("x86_64", 1, None, tuple(blocks), edges=edges, forwarded=dict(fwd or {}),
                   has_edges=True, has_forwarding=watch)


def test_edges_and_forwarding_lines_parse():
    rng = random.Random()
    n = rng.randint(2, 10 ** 6)
    text = (f"# tensorop-blocks v1 arch=x86_64 regions=1 insns={4 * n} edges=1 fwd=1\n"
            f"401000 - {n} 4 90909090\n"
            f"e 401000 - 401000 - {n - 1}\n"
            f"e 401000 - 401000 - 1\n"          # a retranslation's edge: summed
            f"f 401000 {n // 3}\nn 401000 {n // 5}\no 401000 7\n")
    p = parse_blocks(text)
    assert p.has_edges and p.has_forwarding
    assert p.edges == {((0x401000, "-"), (0x401000, "-")): n}
    assert p.forwarded == {0x401000: n // 3} and p.dropped_edges == {0x401000: 7}
    assert p.forwarded_near == {0x401000: n // 5}
    # a profile without the store watch (no simulated memory) says so
    assert not parse_blocks(text.replace("fwd=1", "fwd=0")).has_forwarding
    for bad in ("e 401000 - 401000 12\n", "f 401000\n", "e zz - 401000 - 1\n"):
        with pytest.raises(ProfileError):
            parse_blocks(text + bad)


def test_finder_takes_a_regular_short_loop_and_leaves_the_rest():
    rng = random.Random()
    trips, entries = rng.randint(2, 20), rng.randint(100, 5000)
    cost = [float(rng.randint(4, 40)), 1.0, 2.0, 1.5]
    ok = [True] * 4
    p = _profile(trips * entries, entries, [entries] * 3)
    (lp,) = loops.find_loops(p, cost, ok)
    assert (lp.head, lp.path, lp.trips, lp.entries) == (0, (1, 2, 3), trips, entries)
    asm = {0: ["h"], 1: ["a"], 2: ["b"], 3: ["c"]}
    assert loops.sequence(lp, asm) == ["a", "b", "c"] + ["h"] * trips
    # loads fed by a recent store on more than 1% of the entries: a chain may run through memory
    assert loops.find_loops(_profile(trips * entries, entries, [entries] * 3, fwd={0x300: entries // 50 + 1}),
                            cost, ok) == []
    # a rare one (below 1% of the entries) leaves the loop in
    assert loops.find_loops(_profile(trips * entries, entries, [entries] * 3, fwd={0x300: entries // 200}),
                            cost, ok)
    # no store watch, a block llvm-mca could not time whole, trip counts that differ per entry,
    # a path that does not lead back on most exits, a sequence too long: all left to the blocks
    assert loops.find_loops(_profile(trips * entries, entries, [entries] * 3, watch=False), cost, ok) == []
    assert loops.find_loops(p, cost, [True, True, False, True]) == []
    assert loops.find_loops(p, [cost[0], None, 2.0, 1.5], ok) == []
    assert loops.find_loops(_profile(trips * entries + entries // 2, entries, [entries] * 3), cost, ok) == []
    assert loops.find_loops(_profile(trips * entries, entries, [entries, entries // 2, entries // 2],
                                     extra_exit=0), cost, ok) == []
    # a path block entered from elsewhere too: no more executions re-costed than the fewest on the path
    (shared,) = loops.find_loops(_profile(trips * entries, entries, [entries // 2, entries, entries]), cost, ok)
    assert shared.entries == entries // 2
    big = loops.MAX_SEQ_INSNS // 4 + 1
    assert loops.find_loops(_profile(big * entries, entries, [entries] * 3), cost, ok) == []


# Dot-product chains of K iterations per C element, three ways: independent (each entry starts
# from zero), carried in a register (each entry starts from the last one's sum, times zero: still a
# true dependency), carried through memory (a volatile slot). All three compute C = A B exactly.
CHAINS = r"""
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    static volatile float slot;
    float carry = 0.0f;
    slot = 0.0f;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = START;
            for (int k = 0; k < K; k++)
                s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
            carry = s;
            slot = s;
            FLUSH
        }
    (void)carry;
}
"""
STARTS = {"independent": "0.0f", "register": "carry * 0.0f", "memory": "slot * 0.0f",
          "memory+flush": "slot * 0.0f"}
# red team (this stop): 17 masked vector stores after the slot's store. QEMU runs each through a
# helper, one plugin access per element (136): counted per access they pushed the slot's store out
# of the 128-store window and the memory-carried chain got the overlap credit, 1.57x below its
# honest twin. The window counts store instructions.
FLUSH = ("{ static float scratch[8 * 64] __attribute__((aligned(64))); __asm__ volatile("
         "\"vpcmpeqd %%ymm1, %%ymm1, %%ymm1\\n\\t\"" +
         "".join(f"\"vmaskmovps %%ymm0, %%ymm1, {32 * k}(%0)\\n\\t\"" for k in range(17)) +
         " : : \"r\"(scratch) : \"memory\", \"xmm1\"); }")


@requires_qemu
@requires_mca
def test_independent_chains_overlap_and_carried_chains_do_not(lab):
    shape = (random.choice([12, 16, 20]), random.choice([40, 48, 56]), random.choice([32, 40, 48]))
    got = {}
    for name, start in STARTS.items():
        src = CHAINS.replace("START", start).replace("FLUSH", FLUSH if "flush" in name else "")
        d, art = _build(lab, "x86-qemu", src.encode(), f"chain_{name.replace('+', '_')}.c")
        run = profile_artifact(lab.ws, d, art, shape)
        assert run.ok, run.error
        got[name] = (parse_blocks(run.blocks), model_from_blocks(run.blocks, run.regions, d, cache_dir=None))
    prof, ind = got["independent"]
    assert prof.has_edges and prof.has_forwarding
    assert ind.ok and ind.loops and ind.loop_overlap < 0, ind
    # the loop found is the k loop: entered once per C element
    assert any(r["entries"] >= shape[0] * shape[1] * 0.9 for r in ind.loops), ind.loops
    reg = got["register"][1]
    assert reg.ok
    # a chain llvm-mca sees (a register) is charged as one: the sequence is no cheaper than its blocks
    for r in reg.loops:
        assert r["cycles_per_entry"] >= 0.95 * r["blockwise_per_entry"], r
    for key in ("memory", "memory+flush"):
        mem_prof, mem = got[key]
        assert mem.ok
        # a chain through memory llvm-mca cannot see: the store window saw it, the loop is left alone
        assert mem_prof.forwarded and mem.loops == () and mem.loop_overlap == 0.0, (key, mem_prof.forwarded, mem.loops)
    # per block, a recurrence through memory costs at least its store-to-load forwarding (red team:
    # llvm-mca never aliases loads with stores, so the volatile chain modelled below the register one)
    assert got["memory"][1].cycles_per_call >= reg.cycles_per_call, (got["memory"][1].cycles_per_call,
                                                                      reg.cycles_per_call)
    assert got["memory"][0].forwarded_near
    for carried in (reg, got["memory"][1], got["memory+flush"][1]):
        assert carried.cycles_per_call > 1.3 * ind.cycles_per_call, (carried.cycles_per_call, ind.cycles_per_call)


# red team (this stop): llvm-mca's x86 models do not follow dependencies through the x87 stack, so a
# serial faddp chain modelled 2.45x below the same chain in SSE (below its own latency). x87 is
# untimed now: the kernel pays the worst case per instruction.
X87_DOT = r"""
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    long s = (long)ldb * 4;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const float *a = A + (long)i * lda, *b = B + j; long kk = K; float r;
            __asm__ volatile("fldz\n1:\n\tflds (%[a])\n\tfmuls (%[b])\n\tfaddp %%st, %%st(1)\n\t"
                             "add $4, %[a]\n\tadd %[s], %[b]\n\tdec %[k]\n\tjnz 1b\n\tfstps %[r]\n"
                             : [r] "=m"(r), [a] "+r"(a), [b] "+r"(b), [k] "+r"(kk) : [s] "r"(s)
                             : "st", "st(1)", "memory", "cc");
            C[(long)i * ldc + j] = r;
        }
}
"""
SSE_DOT = (REPO / "kernels" / "validation" / "naive_ijk.c").read_text()   # the same chain in SSE


@requires_qemu
@requires_mca
def test_an_x87_chain_is_never_cheaper_than_the_same_chain_in_sse(lab):
    shape = (random.choice([5, 7, 9]), random.choice([11, 13]), random.choice([33, 47, 64]))
    got = {}
    for name, src in (("x87", X87_DOT), ("sse", SSE_DOT)):
        d, art = _build(lab, "x86-qemu", src.encode(), f"dot_{name}.c")
        run = profile_artifact(lab.ws, d, art, shape)
        assert run.ok, run.error
        got[name] = model_from_blocks(run.blocks, run.regions, d, cache_dir=None)
    assert got["x87"].ok and got["sse"].ok
    assert got["x87"].cycles_per_call >= got["sse"].cycles_per_call, (got["x87"].cycles_per_call,
                                                                       got["sse"].cycles_per_call)
    assert got["x87"].coverage < 1.0       # its x87 instructions are charged, not timed by llvm-mca
