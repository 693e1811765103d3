"""The memory side of the cycle model (harness/measure/model/memory.py, qemu/cache_sim.h) and the
VLEN rescaling of RISC-V core models (mca.rescale_lmul): the combination formula on constructed
counts, the plugin's cache simulation on real programs under real QEMU (counts that follow from
the access pattern), and an untuned, unblocked kernel modelled slower than a packed one once its
data leaves L2."""
from __future__ import annotations

import os
import platform
import random
import shutil
import subprocess
from dataclasses import replace

import pytest

from harness.measure.model import mca, memory
from harness.measure.model.memory import Hierarchy, Level, combine
from harness.measure.model.run import profile_artifact

from conftest import EXAMPLES, REPO, requires_qemu
from test_model import _build, requires_mca

OOO = Hierarchy("test-ooo", (Level(32768, 8, 4, 0), Level(262144, 8, 12, 32), Level(1 << 20, 16, 40, 16)),
                mem_latency=200, mem_bandwidth=8, mlp=10, out_of_order=True, source="test")
INORDER = Hierarchy("test-inorder", (Level(32768, 8, 3, 0), Level(524288, 16, 18, 16)),
                    mem_latency=200, mem_bandwidth=4, mlp=4, out_of_order=False, source="test")


def test_combination_is_the_documented_formula():
    rng = random.Random()
    for _ in range(50):
        core = rng.uniform(1e3, 1e7)
        regions = rng.randint(1, 3)
        demand = [rng.randint(0, 10 ** 6) for _ in range(3)]
        fill = [rng.randint(0, 10 ** 6) for _ in range(3)]
        wb = [rng.randint(0, 10 ** 5) for _ in range(3)]
        mem = {"line": 64, "demand": demand, "fill": fill, "wb": wb, "loads": 1, "stores": 1}
        share = rng.random()
        c = combine(core, mem, regions, OOO, share)
        lat = (demand[0] * 12 + demand[1] * 40 + demand[2] * 200) / 10 / regions
        bw = {"L2->L1": (fill[0] + wb[0]) * 64 / 32 / regions, "L3->L2": (fill[1] + wb[1]) * 64 / 16 / regions,
              "memory": (fill[2] + wb[2]) * 64 / 8 / regions}
        # out of order: the part of the miss latency the window does not hide (where the core is
        # throughput-bound) is added to the core's
        exposed = memory.EXPOSED_OOO * share
        terms = {"core": core + exposed * lat, "latency": lat, **bw}
        assert c.cycles == pytest.approx(max(terms.values()))
        best = max(terms, key=terms.get)
        assert c.bound == ("latency" if best == "core" and exposed * lat > core else best)
        assert c.core_cycles == core and c.memory_cycles == pytest.approx(c.cycles - core)
        # in order: a demand miss stalls the core (added), bandwidth still a floor
        d = combine(core, mem, regions, INORDER, rng.random())     # in order: all of it, whatever the share
        lat2 = (demand[0] * 18 + demand[1] * 200 + demand[2] * 200) / 4 / regions
        bw2 = [(fill[0] + wb[0]) * 64 / 16 / regions, (fill[1] + wb[1]) * 64 / 4 / regions]
        assert d.cycles == pytest.approx(max(core + lat2, *bw2))
    # no memory traffic: the core bound, unchanged
    quiet = combine(5e5, {"line": 64, "demand": [0, 0, 0], "fill": [0, 0, 0], "wb": [0, 0, 0]}, 1, OOO)
    assert quiet.cycles == 5e5 and quiet.bound == "core" and quiet.memory_cycles == 0


def test_the_l1_ports_are_shared_by_loads_and_line_fills():
    """A core with `load_ports`: the L1 term is load lines / ports + L1 lines moved x (line / the
    L2->L1 bandwidth - 1 / ports). One load per line costs exactly the bandwidth term (the figure
    was measured that way); a line loaded in more pieces costs its pieces on top; a record without
    load_lines (or a core without ports) has no L1 term."""
    rng = random.Random()
    ported = replace(OOO, load_ports=2)
    for _ in range(30):
        core, regions = rng.uniform(1e3, 1e5), rng.randint(1, 3)
        fill = [rng.randint(10 ** 5, 10 ** 6), rng.randint(0, 10 ** 3), 0]
        wb = [rng.randint(0, 10 ** 4), 0, 0]
        moved = fill[0] + wb[0]
        base = {"line": 64, "demand": [0, 0, 0], "fill": fill, "wb": wb, "loads": 1, "stores": 1}
        once = combine(core, {**base, "load_lines": moved}, regions, ported)
        assert once.bandwidth_cycles["L1"] == pytest.approx(once.bandwidth_cycles["L2->L1"])
        pieces = rng.randint(2, 16)
        many = combine(core, {**base, "load_lines": pieces * moved}, regions, ported)
        want = (pieces * moved / 2 + moved * (64 / 32 - 1 / 2)) / regions
        assert many.bandwidth_cycles["L1"] == pytest.approx(want)
        assert many.cycles == pytest.approx(max(core, want)) and many.bound == ("L1" if want > core else "core")
        assert "L1" not in combine(core, base, regions, ported).bandwidth_cycles
        assert "L1" not in combine(core, {**base, "load_lines": moved}, regions, OOO).bandwidth_cycles


def test_store_misses_wait_in_their_own_queue():
    """A core with `store_mlp`: the stores that miss when they commit (store_demand) cost their
    latency / store_mlp, and they overlap the loads' misses (the larger of the two); a core without
    it counts them with the loads' misses."""
    rng = random.Random()
    stored = replace(OOO, store_buffer=64, store_mlp=2)
    for _ in range(30):
        regions = rng.randint(1, 3)
        demand = [rng.randint(0, 10 ** 6) for _ in range(3)]
        sdemand = [rng.randint(0, 10 ** 6) for _ in range(3)]
        mem = {"line": 64, "demand": demand, "store_demand": sdemand, "fill": [0, 0, 0], "wb": [0, 0, 0]}
        loads = (demand[0] * 12 + demand[1] * 40 + demand[2] * 200) / 10 / regions
        stores = (sdemand[0] * 12 + sdemand[1] * 40 + sdemand[2] * 200) / regions
        assert combine(1.0, mem, regions, stored).latency_cycles == pytest.approx(max(loads, stores / 2))
        assert combine(1.0, mem, regions, OOO).latency_cycles == pytest.approx(loads + stores / 10)
        assert combine(1.0, mem, regions, stored).misses["store_misses"] == pytest.approx([x / regions for x in sdemand])
    assert "sb=64" in stored.plugin_options() and not any(o.startswith("sb=") for o in OOO.plugin_options())


def test_every_modelled_core_has_a_hierarchy_with_a_source_and_plugin_options(lab):
    for name in ("rv64-qemu", "rv64-qemu-vlen128", "rv64-qemu-vlen512", "arm64-qemu", "a76-qemu", "x86-qemu"):
        h = memory.for_device(lab.device(name))
        assert h is not None and h.source and h.levels[0].size < h.levels[1].size, name
        opts = h.plugin_options()
        assert opts[0].startswith("l1=") and f"line={h.line}" in opts
        for lv in h.levels:
            assert lv.size % (h.line * lv.ways) == 0, (name, lv)


@requires_qemu
@pytest.mark.parametrize("bad", ["l2=1048576:8", "l1=1000:8", "l1=32768:0", "line=48", "prefetch=2", "sb=", "sb=4096",
                                 "phys=", "phys=xyz", "l1pf=2", "late=1:2", "late=1:2:x", "late=1:2:3:4", "ipstride=0", "ipstride=x",
                                 "stream=20", "stream=0:2", "stream=20:0", "stream=x:2", "stream=65:2", "stream=20:2:1",
                                 "rob=352", "rob=0:10", "rob=352:0", "rob=x:10", "rob=352:10:1"])
def test_the_plugin_refuses_a_bad_cache_geometry(lab, bad):
    r = subprocess.run(["qemu-x86_64", "-plugin", f"{lab.ws.qemu_plugin},{bad}", "/bin/true"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "tensorop plugin" in r.stderr, r.stderr


SCALAR_IKJ = (REPO / "kernels" / "validation" / "scalar_ikj.c").read_bytes()
NAIVE_JKI = (REPO / "kernels" / "validation" / "naive_jki.c").read_bytes()


@requires_qemu
@requires_mca
def test_cache_counts_follow_the_access_pattern(lab):
    """x86-qemu (this host's L1D/L2). i-k-j with B (K x N) bigger than L1 and smaller than L2:
    every row of C streams all of B through L1 once, K*N*4/64 lines per row, served by L2 (or
    prefetched from it), nothing from memory after the first pass. j-k-i walks columns of A and C
    (stride 4*lda bytes): two L1 misses per inner iteration once a column's lines do not fit."""
    d = lab.device("x86-qemu")
    h = memory.for_device(d)
    M, N, K = 24, 160, 160 + random.randint(0, 40)          # B: 100-128 KiB, over L1, well under L2
    assert h.levels[0].size < K * N * 4 < h.levels[1].size // 4
    _, art = _build(lab, "x86-qemu", SCALAR_IKJ, "scalar_ikj.c")
    run = profile_artifact(lab.ws, d, art, (M, N, K))
    assert run.ok, run.error
    mem = run.record["mem"]
    b_lines = M * K * N * 4 / 64
    assert 0.9 * b_lines <= mem["fill"][0] <= 1.2 * b_lines + 3 * M * K, (mem, b_lines)
    assert mem["demand"][2] < 0.05 * b_lines, mem
    assert mem["loads"] >= M * K * N and mem["stores"] >= M * N * K    # one load of B, one store of C per FMA

    M, N, K = 20 + random.randint(0, 8), 16, 1024                     # columns of 1024 lines: over L1
    _, art = _build(lab, "x86-qemu", NAIVE_JKI, "naive_jki.c")
    run = profile_artifact(lab.ws, d, art, (M, N, K))
    assert run.ok, run.error
    mem = run.record["mem"]
    # each (j, k) walks M lines of A and M of C; A's column k is new for every k, C's stays in L1
    assert mem["demand"][0] + mem["demand"][1] + mem["demand"][2] >= 0.9 * N * K * M, mem


@requires_qemu
@requires_mca
def test_a_store_commits_late_and_can_miss_on_its_own(lab, monkeypatch):
    """j-k-i with C's rows 1 KiB apart: the inner loop reads C[i][j] and writes it back. The load
    brings the line into L1; with a store buffer the store commits some 70 stores later, when the
    column walk has pushed that line out of its four L1 sets, and misses again (an RFO: one
    store_demand per inner iteration). Writing at once (sb=0) it finds the line the load left."""
    d = lab.device("x86-qemu")
    h = memory.for_device(d)
    assert h.store_buffer >= 48 and any(o.startswith("sb=") for o in h.plugin_options())
    M, N, K = 96 + random.randint(0, 32), 256, 24 + random.randint(0, 16)
    _, art = _build(lab, "x86-qemu", NAIVE_JKI, "naive_jki.c")
    got = {}
    for sb in (h.store_buffer, 0):
        monkeypatch.setitem(memory.HIERARCHIES, d.core_model, replace(memory.HIERARCHIES[d.core_model], store_buffer=sb))
        run = profile_artifact(lab.ws, d, art, (M, N, K))
        assert run.ok, run.error
        got[sb] = run.record["mem"]
    late, now = got[h.store_buffer], got[0]
    assert sum(late["store_demand"]) >= 0.9 * M * N * K, late
    assert sum(now["store_demand"]) == 0, now
    # the loads miss no more often: a late RFO brings back a line of C that the next column's loads
    # may then find (0.2-0.9x as many misses, varying with M and K, against writing at once)
    assert 0 < sum(late["demand"]) <= 1.05 * sum(now["demand"]), (late, now)
    assert late["stores"] == pytest.approx(now["stores"], rel=0.01)
    # each late RFO fills L1 once more, less the loads' misses it saved (97 x 256 x 38: 0.97 million
    # RFOs, 0.24 million fewer load misses; the old bound of 0.8 x M*N*K more fills failed there)
    saved = sum(now["demand"]) - sum(late["demand"])
    assert late["fill"][0] >= now["fill"][0] + 0.9 * sum(late["store_demand"]) - saved, (late, now)


REGTILE = (REPO / "kernels" / "validation" / "regtile_nopack.c").read_bytes()


@requires_qemu
@requires_mca
def test_load_lines_count_instructions_not_qemu_pieces(lab):
    """regtile_nopack: per k step two 256-bit loads of B and four broadcasts of A. QEMU hands the
    plugin each 256-bit load in pieces; the L1's load ports see 6 loads per step (`load_lines`),
    which the L1 term charges."""
    d = lab.device("x86-qemu")
    M, N, K = 8, 640 + 16 * random.randint(0, 8), 256 + random.randint(0, 64)
    _, art = _build(lab, "x86-qemu", REGTILE, "regtile_nopack.c")
    run = profile_artifact(lab.ws, d, art, (M, N, K))
    assert run.ok, run.error
    mem = run.record["mem"]
    steps = M // 4 * N // 16 * K
    assert 6 * steps <= mem["load_lines"] <= 6.2 * steps, (mem, steps)
    assert mem["load_lines"] < mem["loads"]            # the pieces are there, and counted once


def test_vlen_rescaling_of_lmul(lab):
    assert [mca.rescale_lmul(x, 1) for x in ("m8", "m4", "m1", "mf2", "mf8")] == ["m4", "m2", "mf2", "mf4", "mf8"]
    assert mca.rescale_lmul("m1", 2) == "mf4" and mca.rescale_lmul("m4", -1) == "m8"
    assert mca.rescale_asm(["vsetvli a0, a1, e32, m8, ta, ma", "vsetivli zero, 4, e16, mf2, ta, ma",
                            "vfmacc.vf v8, fa0, v16"], 1) == \
        ["vsetvli a0, a1, e32, m4, ta, ma", "vsetivli zero, 4, e16, mf4, ta, ma", "vfmacc.vf v8, fa0, v16"]
    shifts = {n: mca.device_vlen(lab.device(n)) for n in ("rv64-qemu", "rv64-qemu-vlen128", "rv64-qemu-vlen512")}
    assert shifts == {"rv64-qemu": 256, "rv64-qemu-vlen128": 128, "rv64-qemu-vlen512": 512}
    assert mca.vlen_note(lab.device("rv64-qemu-vlen512")) == ""
    assert "2x smaller" in mca.vlen_note(lab.device("rv64-qemu"))
    assert "4x smaller" in mca.vlen_note(lab.device("rv64-qemu-vlen128"))


@requires_qemu
@requires_mca
def test_an_unblocked_kernel_models_slower_than_a_packed_one_beyond_l2(lab):
    """Issue 20's case: one LMUL-8 accumulator per row, no packing, B (K x N) streamed from memory
    for every row of C once it is bigger than the K1's 512 KiB L2; the packed, blocked example is
    core-bound. Without memory the unblocked one models faster (fewer instructions per FMA)."""
    from harness.measure.model import model_from_blocks
    d = lab.device("rv64-qemu")
    shape = (64, 512, 512)                       # B: 1 MiB, twice the L2
    got = {}
    for name, path in (("unblocked", REPO / "kernels" / "memory" / "rvv_unblocked_m8.c"),
                       ("packed", EXAMPLES / "gemm_rvv.c")):
        _, art = _build(lab, "rv64-qemu", path.read_bytes(), path.name)
        run = profile_artifact(lab.ws, d, art, shape)
        assert run.ok, run.error
        core = model_from_blocks(run.blocks, run.regions, d).cycles_per_call
        got[name] = combine(core, run.record["mem"], run.regions, memory.for_device(d))
    u, p = got["unblocked"], got["packed"]
    assert u.core_cycles < p.core_cycles * 1.5          # the core alone hardly tells them apart
    assert u.cycles > 3 * p.cycles, (u, p)
    assert u.bound == "memory" and p.bound == "core", (u.bound, p.bound)
    assert u.misses["l1_to_memory"] > 20 * max(1.0, p.misses["l1_to_memory"])


# i-k-j: every row of C reads all of B, row by row (M passes over B)
IKJ = b"""
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++)
            C[(long)i * ldc + j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            for (int j = 0; j < N; j++)
                C[(long)i * ldc + j] += a * B[(long)k * ldb + j];
        }
    }
}
"""

def _mem(lab, monkeypatch, hier, source, name, shape):
    d = lab.device("x86-qemu")
    monkeypatch.setattr(memory, "for_device", lambda device: hier)
    _, art = _build(lab, "x86-qemu", source, name)
    run = profile_artifact(lab.ws, d, art, shape)
    assert run.ok, run.error
    return run.record["mem"]


@requires_qemu
@requires_mca
def test_a_physically_indexed_l2_loses_lines_to_page_colours(lab, monkeypatch):
    """i-k-j with B 3 MiB, three quarters of a 4 MiB 4-way L2 (256 page colours of 4 pages), read
    once per row of C. Indexed by virtual address every set holds its 3 lines of B and later rows
    hit; with phys= each page lands at a random colour and the colours that drew more than 4 of
    B's 768 pages lose their lines on every pass (35% of the lines on average, a few % apart from
    draw to draw)."""
    lv = (Level(32768, 8, 4, 0), Level(4 << 20, 4, 14, 48))
    base = Hierarchy("test-phys", lv, mem_latency=200, mem_bandwidth=4, mlp=10, out_of_order=True,
                     prefetch=False, source="test")
    M, N, K = 3, 1024, 768                                  # B: 768 x 1024 floats = 3 MiB
    b_lines = K * N * 4 // 64
    virt = _mem(lab, monkeypatch, base, IKJ, "ikj.c", (M, N, K))
    phys = _mem(lab, monkeypatch, replace(base, physical_index=True), IKJ, "ikj.c", (M, N, K))
    assert virt["fill"][1] < 1.05 * b_lines, virt                 # at most the first pass
    assert phys["fill"][1] > virt["fill"][1] + 0.15 * (M - 1) * b_lines, (phys, virt)
    assert not any(o.startswith("phys=") for o in base.plugin_options())
    h = replace(base, physical_index=True)
    keys = {o for o in h.plugin_options() + h.plugin_options() if o.startswith("phys=")}
    assert len(keys) == 2                                   # a fresh key per run


# i-k-j on four rows of C at a time with 256-bit vectors: per k and 8 columns one load of B and four
# loads and stores of C. ORDER decides the stores' order: the four rows in turn (each store goes to
# another line) or, for each row, two vectors in a row (two stores to one line, then the next row's)
STORE_ORDER = """
#include <immintrin.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(long)i * ldc + j] = 0.0f;
    for (int i = 0; i + 4 <= M; i += 4)
        for (int k = 0; k < K; k++) {
            const float *b = B + (long)k * ldb;
            for (int j = 0; j + 16 <= N; j += 16) {
                __m256 b0 = _mm256_loadu_ps(b + j), b1 = _mm256_loadu_ps(b + j + 8);
#if ROWS_IN_TURN
                for (int h = 0; h < 2; h++)
                    for (int r = 0; r < 4; r++) {
                        float *c = C + (long)(i + r) * ldc + j + 8 * h;
                        __m256 a = _mm256_broadcast_ss(A + (long)(i + r) * lda + k);
                        _mm256_storeu_ps(c, _mm256_fmadd_ps(a, h ? b1 : b0, _mm256_loadu_ps(c)));
                    }
#else
                for (int r = 0; r < 4; r++)
                    for (int h = 0; h < 2; h++) {
                        float *c = C + (long)(i + r) * ldc + j + 8 * h;
                        __m256 a = _mm256_broadcast_ss(A + (long)(i + r) * lda + k);
                        _mm256_storeu_ps(c, _mm256_fmadd_ps(a, h ? b1 : b0, _mm256_loadu_ps(c)));
                    }
#endif
            }
        }
}
"""


@requires_qemu
@requires_mca
def test_stores_to_one_line_commit_in_pairs(lab, monkeypatch):
    """`store_commits`: the L1 writes stores one line per cycle, two stores in one cycle only when
    both go to the same line (Intel's cores since Ice Lake). The same GEMM with its C stores in two
    orders: the four rows in turn (every store another line: one cycle each) or two vectors of one
    row back to back (half as many). The store buffer commits them in program order either way."""
    d = lab.device("x86-qemu")
    h = memory.for_device(d)
    assert h.store_commit_cycles > 0
    M, N, K = 8, 64 + 16 * random.randint(0, 4), 24 + random.randint(0, 16)     # C aligned: ldc = N
    vector_stores = M * K * N // 8
    got = {}
    for turn in (1, 0):
        src = (f"#define ROWS_IN_TURN {turn}\n" + STORE_ORDER).encode()
        got[turn] = _mem(lab, monkeypatch, h, src, f"store_order_{turn}.c", (M, N, K))
    zeroing = M * N * 4 // 64                       # C = 0 first: whole lines, at most one cycle each
    assert vector_stores <= got[1]["store_commits"] <= vector_stores + zeroing + h.store_buffer + 32, got[1]
    # plus the driver's stores still in the store buffer when the call starts, and the call's own
    slack = zeroing + h.store_buffer + 32
    assert vector_stores / 2 <= got[0]["store_commits"] <= vector_stores / 2 + slack, got[0]
    assert got[0]["store_commits"] < 0.7 * got[1]["store_commits"]
    per_store = h.store_commit_cycles
    c = combine(1.0, {"line": 64, "demand": [0, 0, 0], "fill": [0, 0, 0], "wb": [0, 0, 0],
                      "load_lines": 0, **got[1]}, 1, h)
    assert c.bandwidth_cycles["L1 stores"] == pytest.approx(got[1]["store_commits"] * per_store
                                                           + got[1]["fill"][0] * (64 / h.levels[1].bandwidth - 1 / h.load_ports), rel=1e-3)


def test_the_l1_stores_term_is_store_commits_plus_fills():
    """A core with `store_commit_cycles`: L1 stores = store commits x those cycles + L1 lines moved x
    the fill's cycles (as in the L1 term); a core without it has no such term."""
    rng = random.Random()
    ported = replace(OOO, load_ports=2, store_commit_cycles=1.1)
    for _ in range(20):
        regions = rng.randint(1, 3)
        fill, commits = [rng.randint(0, 10 ** 6), 0, 0], rng.randint(0, 10 ** 7)
        mem = {"line": 64, "demand": [0, 0, 0], "fill": fill, "wb": [0, 0, 0], "load_lines": 0, "store_commits": commits}
        c = combine(1.0, mem, regions, ported)
        want = (commits * 1.1 + fill[0] * (64 / 32 - 1 / 2)) / regions
        assert c.bandwidth_cycles["L1 stores"] == pytest.approx(want)
        assert c.cycles == pytest.approx(max(want, c.bandwidth_cycles["L1"], c.bandwidth_cycles["L2->L1"], 1.0))
        if want > max(c.bandwidth_cycles["L1"], c.bandwidth_cycles["L2->L1"]):
            assert c.bound == "L1 stores"
        assert "L1 stores" not in combine(1.0, mem, regions, replace(ported, store_commit_cycles=0)).bandwidth_cycles


def _column_walk(work: int) -> bytes:
    """i-j-k with B's column walked down its rows (ldb*4 bytes apart, within the IP-stride
    prefetcher's reach) and `work` nops between two loads of it: the prefetch of the next row's
    line comes that many instructions before its use."""
    pad = f'__asm__ volatile(".rept {work}\\n nop\\n .endr");' if work else ""
    return f"""
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {{
            float s = 0.0f;
            for (int k = 0; k < K; k++) {{ s += A[(long)i * lda + k] * B[(long)k * ldb + j]; {pad} }}
            C[(long)i * ldc + j] = s;
        }}
}}
""".encode()


@requires_qemu
@requires_mca
def test_a_prefetch_used_right_after_it_is_issued_is_late(lab, monkeypatch):
    """The same column walk with no work and with 1000 nops between its loads: the IP-stride
    prefetcher fetches each next row's line either way, and the first loads of those lines are
    recorded with the instructions since their prefetch. Without work they come a few instructions
    later and wait for most of the L2 latency (or more); 1000 instructions later, at the fastest
    rate a core issues them (6 per cycle), any origin's latency but memory's has elapsed."""
    d = lab.device("x86-qemu")
    h = memory.for_device(d)
    monkeypatch.setenv("TENSOROP_PAGE_COLOURS", f"{random.getrandbits(64):x}")
    M, N, K = 1, 64, 256 + 16 * random.randint(0, 16)      # B: 64-128 KiB, over L1, under L2
    runs = {}
    for work in (0, 1000):
        _, art = _build(lab, "x86-qemu", _column_walk(work), f"walk{work}.c")
        run = profile_artifact(lab.ws, d, art, (M, N, K))
        assert run.ok, run.error
        runs[work] = run.record["mem"]
    tight, spaced = runs[0], runs[1000]
    first_uses = lambda m: sum(n for at, src, b, n in m["late"])
    # B's line of each row and group of 16 columns comes from L2 once (16 KiB-32 KiB a group: L1 keeps it)
    assert first_uses(tight) >= 0.8 * M * K * N / 16, tight
    assert first_uses(spaced) >= 0.8 * M * K * N / 16, spaced
    assert max(memory.late_bucket_start(b) for at, src, b, n in tight["late"] if n > 10) < 64
    assert min(memory.late_bucket_start(b) for at, src, b, n in spaced["late"] if n > 10) >= 900     # its bucket starts at 960
    wait_tight, late_tight = memory.late_cycles(tight, h, 6.0)
    wait_spaced, late_spaced = memory.late_cycles(spaced, h, 6.0)
    assert wait_tight >= 0.5 * h.levels[1].latency * first_uses(tight)
    assert wait_spaced <= 0.05 * wait_tight and late_spaced[:2] == [0, 0]


@requires_qemu
@requires_mca
def test_the_streamer_runs_further_ahead_as_its_stream_goes_on(lab, monkeypatch):
    """i-k-j with B (1-1.5 MiB) streamed from memory past a 256 KiB L2, on a core whose L1
    prefetches train the L2 streamer (as Intel's do). A streamer 4 lines ahead brings each line a
    few dozen instructions before its first load; one that issues two prefetches per request up to
    20 lines ahead (stream=20:2, Intel's) keeps a lead that grows along each page, so its lines come
    several times earlier and wait for less of the memory latency. The lines an L1 prefetch copies
    from an L2 prefetch still in flight keep that prefetch's origin (memory), not L2."""
    lv = (Level(32768, 8, 4, 0), Level(256 * 1024, 8, 14, 48))
    base = Hierarchy("test-stream", lv, mem_latency=200, mem_bandwidth=4, mlp=10, out_of_order=True,
                     l1_prefetch_fills_l2=False, ip_stride_max=2048, source="test")
    deep = replace(base, stream_depth=20, stream_per_lookup=2)
    assert not any(o.startswith("stream=") for o in base.plugin_options()) and "stream=20:2" in deep.plugin_options()
    assert "stream=20:2" in memory.for_device(lab.device("x86-qemu")).plugin_options()
    M, N, K = 2, 1024, 256 + 64 * random.randint(0, 4)
    runs = {h.stream_depth: _mem(lab, monkeypatch, h, IKJ, "ikj.c", (M, N, K)) for h in (base, deep)}

    def from_memory(m):
        uses = [(memory.late_bucket_start(b), n) for at, src, b, n in m["late"] if src == 2]
        return sum(n for _, n in uses), sum(d * n for d, n in uses) / max(1, sum(n for _, n in uses))
    (n4, d4), (n20, d20) = from_memory(runs[4]), from_memory(runs[20])
    b_lines = M * K * N * 4 // 64
    assert n4 > 0.5 * b_lines and n20 > 0.5 * b_lines, (runs[4]["late"], runs[20]["late"])
    assert d20 > 2.5 * d4, (d4, d20)
    wait4, _ = memory.late_cycles(runs[4], base, 2.0)
    wait20, _ = memory.late_cycles(runs[20], deep, 2.0)
    assert wait20 < 0.9 * wait4, (wait4, wait20)        # memory latency is 200 cycles: 20 lines hide a fifth of it


def test_misses_beyond_l2_are_charged_per_group_that_overlaps():
    """A core with `rob`: the loads that missed beyond L2 wait far = max(their latencies / MLP,
    groups ending in L3 x lat_L3 + groups ending in memory x lat_mem), a group lasting as long as
    its slowest member (the plugin's `long`: misses, groups by that level); L2 hits (and late
    prefetches) keep MLP. long_mlp = those misses' latencies / far. Without `rob`, or without the
    plugin's groups, all of it is over MLP. Adding misses never makes it cheaper."""
    rng = random.Random()
    rob = replace(OOO, rob=rng.choice([128, 256, 352, 512]))
    assert f"rob={rob.rob}:10" in rob.plugin_options() and not any(o.startswith("rob=") for o in OOO.plugin_options())
    for _ in range(40):
        regions = rng.randint(1, 3)
        demand = [rng.randint(0, 10 ** 6) for _ in range(3)]
        n = demand[1] + demand[2]
        g3, gm = rng.randint(0, max(1, demand[1])), rng.randint(0, max(1, demand[2]))
        mem = {"line": 64, "demand": demand, "fill": [0, 0, 0], "wb": [0, 0, 0], "long": [n, g3, gm]}
        short = demand[0] * 12 / 10
        each = demand[1] * 40 + demand[2] * 200
        far = max(each / 10, g3 * 40 + gm * 200)
        c = combine(1e3, mem, regions, rob)
        assert c.latency_cycles == pytest.approx((short + far) / regions)
        assert c.misses["long_mlp"] == pytest.approx(each / far if far else 10)
        assert combine(1e3, mem, regions, OOO).latency_cycles == pytest.approx((short + each / 10) / regions)
        assert combine(1e3, {**mem, "long": [n, g3]}, regions, rob).latency_cycles == pytest.approx((short + each / 10) / regions)
        # red team 10: L3 hits that join memory misses' groups (their count unchanged) cost more, not less
        more = {**mem, "demand": [demand[0], demand[1] + 5 * gm, demand[2]], "long": [n + 5 * gm, g3, gm]}
        assert combine(1e3, more, regions, rob).latency_cycles >= c.latency_cycles


# i-k-j, scalar (one element per inner iteration, some 7 instructions): a row of B is 16 elements
# per line, so its lines are some hundred instructions apart
_INNER_J = b"            for (int j = 0; j < N; j++)\n                C[(long)i * ldc + j] += a"
IKJ_SCALAR = IKJ.replace(_INNER_J, b"#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)\n" + _INNER_J)
assert IKJ_SCALAR != IKJ


@requires_qemu
@requires_mca
def test_misses_overlap_only_within_the_reorder_buffers_reach(lab, monkeypatch):
    """Scalar i-k-j with B (1 MiB) streamed from memory past a 256 KiB L2 on every row of C, no
    prefetcher: B's lines miss one by one, some hundred instructions apart. A reorder buffer of 64
    instructions reaches no other miss (each waits alone: MLP_long 1); one of 4096 reaches many, so
    the miss buffers bound them (MLP 10); 352 reaches the next three or so. The modelled latency
    of the same counts follows."""
    lv = (Level(32768, 8, 4, 0), Level(256 * 1024, 8, 14, 48))
    base = Hierarchy("test-rob", lv, mem_latency=200, mem_bandwidth=4, mlp=10, out_of_order=True,
                     prefetch=False, source="test")
    M, N, K = 2, 1024, 256 + 16 * random.randint(0, 8)
    b_lines = K * N * 4 // 64
    got = {}
    for reach in (64, 352, 4096):
        m = _mem(lab, monkeypatch, replace(base, rob=reach), IKJ_SCALAR, "ikj_scalar.c", (M, N, K))
        n, g3, gm = m["long"]
        assert g3 == 0 and 0 < gm <= n, m                   # no L3: every group ends in memory
        # the loads' misses beyond L2 (the demand counts also hold C's stores, written at once here)
        assert 0.9 * M * b_lines < n <= m["demand"][1] + m["demand"][2], m
        got[reach] = combine(1e6, m, 1, replace(base, rob=reach))
    assert got[64].misses["long_mlp"] < 1.1
    assert got[4096].misses["long_mlp"] > 9.5
    assert 2 < got[352].misses["long_mlp"] < 6, got[352].misses
    assert got[64].latency_cycles > 2 * got[352].latency_cycles > 2 * got[4096].latency_cycles


def test_late_prefetches_wait_for_what_of_their_latency_is_left():
    """late_cycles: each first use waits max(0, origin latency - found-at latency - d / IPC), d the
    first instruction count of its bucket (exact below 8, then 8 buckets per power of two), and
    the latency term adds those waits over MLP."""
    rng = random.Random()
    assert [memory.late_bucket_start(b) for b in range(8)] == list(range(8))
    starts = [memory.late_bucket_start(b) for b in range(8, 96)]
    assert starts[:9] == [8, 9, 10, 11, 12, 13, 14, 15, 16] and starts == sorted(set(starts))
    for b in range(8, 95):                                  # 8 buckets per octave, about 12% wide
        assert starts[b - 7] / starts[b - 8] <= 1 + 1 / 8 + 1e-9
    for _ in range(20):
        late = [[rng.randint(0, 1), rng.randint(1, 3), rng.randint(0, 90), rng.randint(1, 10 ** 5)] for _ in range(8)]
        ipc = rng.uniform(0.5, 6)
        want = 0.0
        for at, src, b, n in late:
            origin = [OOO.levels[1].latency, OOO.levels[2].latency, OOO.mem_latency][src - 1]
            found = [0, OOO.levels[1].latency][at]
            want += n * max(0.0, origin - found - memory.late_bucket_start(b) / ipc)
        got, uses = memory.late_cycles({"late": late}, OOO, ipc)
        assert got == pytest.approx(want)
        regions = rng.randint(1, 3)
        mem = {"line": 64, "demand": [0, 0, 0], "fill": [0, 0, 0], "wb": [0, 0, 0], "late": late}
        c = combine(1e5, mem, regions, OOO, 1.0, insns_per_call=ipc * 1e5)
        assert c.latency_cycles == pytest.approx(want / regions / OOO.mlp)
        assert c.misses["late_prefetch_cycles"] == pytest.approx(want / regions)
        assert combine(1e5, mem, regions, OOO, 1.0).latency_cycles == 0     # no rate given: never late


def test_host_latencies_can_be_pinned_and_are_probed_otherwise(monkeypatch):
    """TENSOROP_HOST_LATENCY gives the latencies `memory: host` models with (the suite pins them:
    conftest.py); a malformed one is refused by name; unpinned, the probe (latency_probe.c with
    cycle_clock.h) measures this host: on x86-64, L3 slower than L2."""
    from harness.measure.model import host_latency as hl
    got = hl.host_latency.__wrapped__(2 << 20, 32 << 20)
    assert got == hl.HostLatency(*map(float, os.environ["TENSOROP_HOST_LATENCY"].split(":")))
    for bad in ("fast", "4.0", "4.0:90:141", "4.0:19:141:7", "4.0:141:19"):
        monkeypatch.setenv("TENSOROP_HOST_LATENCY", bad)
        with pytest.raises(ValueError, match="TENSOROP_HOST_LATENCY"):
            hl.host_latency.__wrapped__(2 << 20, 32 << 20)
    if platform.machine() == "x86_64" and shutil.which("cc"):
        probed = hl._run_probe([256 << 10, 6 << 20])
        assert probed is None or (probed.l3 and probed.l2 < probed.l3), probed
