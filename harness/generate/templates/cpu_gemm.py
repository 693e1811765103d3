"""Expert templates: Python functions that emit a complete GEMM f32 kernel (the sketch: a
BLIS/Goto-style tiled, packed loop nest; plus a register-blocked micro-kernel written with the
device's primitives) for given parameters, with the parameter space declared beside them.

Primitive sets: rvv (RVV 1.0 __riscv_* intrinsics, VLEN-agnostic), sve (VL-agnostic), neon,
avx512, avx2, scalar.

Parameters (the same names for every primitive set):
    MR   rows of the register tile (A values per k step)
    NV   vector registers per row of the register tile; NR = NV * lanes(LMUL)
    LMUL RVV register grouping (1, 2, 4, 8); 1 elsewhere
    KC   k block (packed B micro-panel KC x NR should stay in L1)
    MC   m block (packed A block MC x KC should stay in L2), rounded down to a multiple of MR
    NC   n block (packed B block KC x NC stays in L2/L3), rounded down to a multiple of NR
    U    k-loop unroll factor of the micro-kernel
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.core.space import ParamSpace
from harness.generate.templates.abi_c import C_TYPES, abi_body, blocked_loops


# Low-precision inputs (harness/ops/gemm_lowp.py) reuse the f32 micro-kernels: the packing routines
# widen A and B to f32 as they copy them (the packed panels are f32 as before), so every primitive
# set gets f16/bf16 GEMM with f32 accumulation. int8 products and sums are integers that f32 holds
# exactly up to 2^24, so one k block (KC <= 1024: 1024 * 128 * 128 = 2^24) is exact in f32; each
# block's tile goes through the f32 tile buffer and is added to the int32 C as integers.
WIDEN = {
    "f32": "static inline float widen(float x) { return x; }",
    "f16": """static inline float widen(uint16_t h)      /* IEEE binary16 -> f32, exact (tensorop_lowp.h) */
{
    uint32_t e = (uint32_t)(h & 0x7fffu) << 13, s = (uint32_t)(h & 0x8000u) << 16, r;
    float f;
    memcpy(&f, &e, 4);
    f *= 0x1p112f;
    memcpy(&r, &f, 4);
    if ((h & 0x7c00u) == 0x7c00u) r = e | 0x7f800000u;
    r |= s;
    memcpy(&f, &r, 4);
    return f;
}""",
    "bf16": """static inline float widen(uint16_t b)      /* bfloat16 -> f32: the top half of its bits */
{
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}""",
    "i8": "static inline float widen(int8_t x) { return (float)x; }",
}


@dataclass(frozen=True)
class PrimitiveSet:
    name: str
    include: str
    lanes: int                     # f32 lanes per (m1) vector register at the design VLEN, 1 for scalar
    vregs: int
    vla: bool                      # vector-length agnostic: NR known only at run time
    space: ParamSpace
    seeds: tuple[dict, ...]        # expert starting points, best-known first
    cost: Callable[[dict], float]  # model: estimated instructions per FMA (lower is better)
    description: str = ""
    nrmax_expr: str = ""           # C constant bounding NR (VLA sets)
    notes: tuple[str, ...] = field(default_factory=tuple)


def _blocks(kc=(128, 192, 256, 384, 512), mc=(48, 64, 96, 112, 120, 128, 144, 168, 192, 240, 256),
            nc=(256, 512, 1024, 2048, 4096)):
    return {"KC": list(kc), "MC": list(mc), "NC": list(nc), "U": [1, 2, 4, 8]}


def _cost_bcast(p, lanes):     # broadcast-A kernels: NV loads of B + MR loads/broadcasts of A per MR*NV FMAs
    mr, nv, lm = p["MR"], p["NV"], p.get("LMUL", 1)
    per_k = nv + mr + mr * nv + 1.0 / p["U"]
    return per_k / (mr * nv * lanes * lm)


def _cost_rvv_cycles(p, lanes):
    """RVV: modelled cycles per f32 FMA on an in-order vector core whose per-op cost has a fixed
    issue part and a part proportional to LMUL (fitted to llvm-mca's sifive-x280 model at 256^3:
    per k step ~2.5 cycles per vector instruction + 1.25 x LMUL per register group; it predicts
    3x1 LMUL8 50, 7x1 LMUL4 60, 7x2 LMUL2 80, 7x4 LMUL1 120 cycles per k step, modelled 51/66/85/120).
    Counting instructions instead would make LMUL look free and MR irrelevant."""
    mr, nv, lm = p["MR"], p["NV"], p.get("LMUL", 1)
    vinsns = mr * nv + nv                       # vfmacc.vf + vle32 per k step
    per_k = 2.5 * vinsns + 1.25 * lm * vinsns + 0.5 * mr + 1.0 / p["U"]
    return per_k / (mr * nv * lanes * lm)


def _cost_lane(p, lanes):      # FMA-by-lane kernels: A is loaded as vectors (MR/4 loads)
    mr, nv = p["MR"], p["NV"]
    per_k = nv + mr / 4 + mr * nv + 1.0 / p["U"]
    return per_k / (mr * nv * lanes)


SETS: dict[str, PrimitiveSet] = {}


def _register(ps: PrimitiveSet):
    SETS[ps.name] = ps


# ORDER (x86 sets): which packed panel the two tile loops keep in L1. 0: B's KC x NR panel, the A
# block streamed past it from L2 (jr -> ir; B's panel must fit the L1, A's block the L2); 1: A's
# MR x KC panel, B's KC x NC block streamed past it from L2 (ir -> jr), which must then fit two
# thirds of the L2 (the rest holds the A panels and C rows passing through). Paired on this host
# (6 x 64, KC 192): ORDER 1 with NC 1024 against ORDER 0 with NC 2048 1.036x [1.024, 1.048] at
# 1024^3, 1.107x [1.078, 1.122] at 2048^3; B blocks of 1 MiB (KC 256 NC 1024, KC 128 NC 2048)
# 0.95x and 0.91x of 768 KiB ones at 2048^3, and ORDER 1 with B's block past the L2 (NC 2048)
# 0.74x.
_ORDER_CONSTRAINTS = ["ORDER == 1 or KC * NV * lanes * 4 <= l1d", "ORDER == 0 or 3 * KC * NC * 4 <= 2 * l2"]

_register(PrimitiveSet(
    "avx512", "#include <immintrin.h>", 16, 32, False,
    ParamSpace({"MR": [4, 6, 8, 10, 12, 14, 16], "NV": [1, 2, 3, 4], "LMUL": [1], **_blocks(),
                "SM": [0, 16], "PF": [0, 2], "ORDER": [0, 1]},
               ["MR * NV + NV + 1 <= vregs", *_ORDER_CONSTRAINTS, "KC * MC * 4 <= l2",
                "MC >= MR", "NC >= NV * lanes"]),
    # First 6 x 64 at ORDER 1, its NC fitted to the L2 by the expert (fit_blocks: 1024 on a 1.25 MiB
    # L2); against it on an Ice Lake-SP host 14 x 32 KC 384 NC 512 at ORDER 1 0.88x, 8 x 48 0.95-0.99x.
    # Then the ORDER 0 points. 14 x 32: 28 accumulators cover FMA latency (4) x 2 pipes 3.5 times over;
    # PF: A-panel and C-tile prefetch. Paired against OpenBLAS at 1024^3 (ORDER 0): KC 384
    # MC 112 PF 2 0.99x [0.98, 1.01], KC 256 MC 168 without PF 0.94x.
    ({"MR": 6, "NV": 4, "LMUL": 1, "KC": 192, "MC": 96, "NC": 512, "U": 4, "SM": 16, "PF": 2, "ORDER": 1},
     {"MR": 14, "NV": 2, "LMUL": 1, "KC": 256, "MC": 112, "NC": 2048, "U": 4, "SM": 16, "PF": 2, "ORDER": 0},
     {"MR": 14, "NV": 2, "LMUL": 1, "KC": 256, "MC": 168, "NC": 2048, "U": 4, "SM": 16, "PF": 2, "ORDER": 0},
     {"MR": 6, "NV": 4, "LMUL": 1, "KC": 192, "MC": 96, "NC": 2048, "U": 4, "SM": 16, "PF": 2, "ORDER": 0},
     {"MR": 8, "NV": 3, "LMUL": 1, "KC": 256, "MC": 128, "NC": 2048, "U": 2, "SM": 16, "PF": 2, "ORDER": 0},
     {"MR": 12, "NV": 2, "LMUL": 1, "KC": 384, "MC": 192, "NC": 4096, "U": 2, "SM": 16, "PF": 2, "ORDER": 0}),
    lambda p: _cost_bcast(p, 16),
    "AVX-512F: zmm accumulators, B rows loaded, A broadcast (embedded {1to16} operand), vfmadd231ps"))

_register(PrimitiveSet(
    "avx2", "#include <immintrin.h>", 8, 16, False,
    ParamSpace({"MR": [2, 3, 4, 6, 8], "NV": [1, 2, 3], "LMUL": [1], **_blocks(), "ORDER": [0, 1]},
               ["MR * NV + NV + 1 <= vregs", *_ORDER_CONSTRAINTS, "KC * MC * 4 <= l2",
                "MC >= MR", "NC >= NV * lanes"]),
    ({"MR": 6, "NV": 2, "LMUL": 1, "KC": 256, "MC": 96, "NC": 2048, "U": 4, "ORDER": 0},
     {"MR": 4, "NV": 3, "LMUL": 1, "KC": 256, "MC": 96, "NC": 2048, "U": 4, "ORDER": 0},
     {"MR": 8, "NV": 1, "LMUL": 1, "KC": 256, "MC": 128, "NC": 2048, "U": 4, "ORDER": 0}),
    lambda p: _cost_bcast(p, 8),
    "AVX2+FMA: ymm accumulators, _mm256_broadcast_ss of A, _mm256_fmadd_ps"))

_register(PrimitiveSet(
    "scalar", "", 1, 16, False,
    ParamSpace({"MR": [1, 2, 4, 6, 8], "NV": [1, 2, 4, 8, 16], "LMUL": [1], **_blocks()},
               ["MR * NV <= 64", "KC * MC * 4 <= l2", "MC >= MR", "NC >= NV"]),
    ({"MR": 4, "NV": 8, "LMUL": 1, "KC": 256, "MC": 64, "NC": 1024, "U": 1},
     {"MR": 4, "NV": 4, "LMUL": 1, "KC": 256, "MC": 64, "NC": 1024, "U": 2},
     {"MR": 2, "NV": 8, "LMUL": 1, "KC": 256, "MC": 64, "NC": 1024, "U": 2}),
    lambda p: _cost_bcast(p, 1),
    "portable C: scalar register tile (the compiler may vectorise it)"))

def _lane_space(nv: list[int]) -> ParamSpace:
    """The FMA-by-lane sets' space (NEON, SVE): A loaded as quads, MR a multiple of 4."""
    return ParamSpace({"MR": [4, 8, 12, 16], "NV": nv, "LMUL": [1], **_blocks()},
                      ["MR % 4 == 0", "MR * NV + NV + MR // 4 <= vregs", "KC * NV * lanes * 4 <= l1d",
                       "KC * MC * 4 <= l2", "MC >= MR", "NC >= NV * lanes"])


# The FMA-by-lane sets' seeds: 4 rows x 4 vectors first (for NEON: 16 accumulators cover FMA latency
# (4) x pipes (2) twice over, NR = 16 divides the usual sizes, 8 x 12 wastes a third of its last
# panel at 2^k, and it models fastest on cortex-a76: 256^3 4.33e6 cycles vs 4.67e6 for 8 x 12,
# OpenBLAS 4.39e6; for SVE 256 on neoverse-v1: 1.09e6 vs 1.17e6 for 8 x 3, OpenBLAS 1.10e6, 2 FMAs
# per cycle in the hot loop, NR = 4 VL divides 2^k sizes).
LANE_SEEDS = ({"MR": 4, "NV": 4, "LMUL": 1, "KC": 256, "MC": 128, "NC": 1024, "U": 4},
              {"MR": 8, "NV": 2, "LMUL": 1, "KC": 256, "MC": 128, "NC": 1024, "U": 4},
              {"MR": 8, "NV": 3, "LMUL": 1, "KC": 256, "MC": 128, "NC": 1024, "U": 4},
              {"MR": 12, "NV": 2, "LMUL": 1, "KC": 256, "MC": 96, "NC": 1024, "U": 4})

_register(PrimitiveSet(
    "neon", "#include <arm_neon.h>", 4, 32, False, _lane_space([1, 2, 3, 4, 5, 6]), LANE_SEEDS,
    lambda p: _cost_lane(p, 4),
    "Advanced SIMD: 4-lane q accumulators, fmla by element (vfmaq_laneq_f32) with A as q vectors"))

_register(PrimitiveSet(
    "sve", "#include <arm_sve.h>", 8, 32, True, _lane_space([1, 2, 3, 4]), LANE_SEEDS,
    lambda p: _cost_lane(p, 8),
    "SVE (VL-agnostic): svmla_lane_f32 with A quads from svld1rq_f32, NR = NV * svcntw()",
    nrmax_expr="(NV * 64)"))

_register(PrimitiveSet(
    "rvv", "#include <riscv_vector.h>", 8, 32, True,
    ParamSpace({"MR": [1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15], "NV": [1, 2, 3, 4], "LMUL": [1, 2, 4, 8],
                **_blocks()},
               ["(MR * NV + NV) * LMUL <= vregs", "KC * NV * LMUL * lanes * 4 <= 2 * l1d",
                "KC * MC * 4 <= l2", "MC >= MR", "NC >= NV * LMUL * lanes"]),
    # ordered by modelled cycles (sifive-x280, 256^3, rv64-qemu): 3x1 LMUL 8 4.74e6 (U 2) / 4.75e6,
    # 7x1 LMUL 4 5.35e6, 7x2 LMUL 2 6.80e6, 15x1 LMUL 2 7.52e6, 7x4 LMUL 1 9.44e6; OpenBLAS 7.04e6
    ({"MR": 3, "NV": 1, "LMUL": 8, "KC": 256, "MC": 120, "NC": 1024, "U": 2},
     {"MR": 3, "NV": 1, "LMUL": 8, "KC": 256, "MC": 120, "NC": 1024, "U": 1},
     {"MR": 7, "NV": 1, "LMUL": 4, "KC": 256, "MC": 112, "NC": 1024, "U": 1},
     {"MR": 7, "NV": 2, "LMUL": 2, "KC": 256, "MC": 112, "NC": 1024, "U": 1}),
    lambda p: _cost_rvv_cycles(p, 8),
    "RVV 1.0 (VLEN-agnostic): LMUL-grouped accumulators, vfmacc.vf with A scalars, "
    "NR = NV * vsetvlmax(e32, LMUL)", nrmax_expr="(NV * LMUL * 32)"))


def fit_blocks(ps: PrimitiveSet, point: dict, context: dict) -> dict:
    """Size the blocks from the hardware profile. With B's panel kept in L1 (ORDER 0, the
    default): the largest KC of the domain that keeps the point valid (the set's constraints bound
    the KC x NR micro-panel of B by the L1 and the MC x KC block of A by the L2), so a bigger L1
    gets fewer passes over C. With A's panel kept in L1 (ORDER 1): the largest NC whose KC x NC
    block of B keeps the point valid (the L2 bound; smaller than the point's where the L2 is
    smaller), the point's KC kept, so the B block is packed fewer times."""
    order1 = bool(point.get("ORDER", 0))
    name = "NC" if order1 else "KC"
    best = point
    for v in sorted(ps.space.params.get(name, [])):
        q = {**point, name: v}
        if (order1 or v > point.get(name, 0)) and ps.space.valid(q, context):
            best = q
    return best


# ----------------------------------------------------------------------------------------
# micro-kernels: return C text for
#   static inline void ukernel(int kc, const float *restrict a, const float *restrict b,
#                              float *restrict c, long ldc, int acc)
# a: packed MR-row panel (a[k*MR + i]); b: packed NR-column panel (b[k*NR + j]);
# c: MR x NR tile, row stride ldc; acc: add to c (later k blocks) instead of overwriting.

def _names(mr, nv):
    return [[f"c{i}_{j}" for j in range(nv)] for i in range(mr)]


def _kloop(step: Callable[[int], list[str]], U: int, adv: str) -> list[str]:
    out = ["    int k = 0;"]
    if U > 1:
        out.append(f"    for (; k + {U} <= kc; k += {U}) {{")
        for u in range(U):
            out.append("        {")
            out += ["            " + s for s in step(u)]
            out.append("        }")
        out.append(f"        a += {U} * MR; b += {U} * {adv};")
        out.append("    }")
    out.append("    for (; k < kc; k++) {")
    out += ["        " + s for s in step(0)]
    out.append(f"        a += MR; b += {adv};")
    out.append("    }")
    return out


def _uk_fixed(ps: PrimitiveSet, p: dict) -> str:
    mr, nv, U = p["MR"], p["NV"], p["U"]
    c = _names(mr, nv)
    W = ps.lanes
    if ps.name == "avx512":
        T, zero, load, store, fma, add = "__m512", "_mm512_setzero_ps()", "_mm512_loadu_ps", "_mm512_storeu_ps", \
            "_mm512_fmadd_ps", "_mm512_add_ps"
        bc = lambda x: f"_mm512_set1_ps({x})"
    elif ps.name == "avx2":
        T, zero, load, store, fma, add = "__m256", "_mm256_setzero_ps()", "_mm256_loadu_ps", "_mm256_storeu_ps", \
            "_mm256_fmadd_ps", "_mm256_add_ps"
        bc = lambda x: f"_mm256_broadcast_ss(&{x})"
    lines = ["static inline void ukernel(int kc, const float *restrict a, const float *restrict b,",
             "                           float *restrict c, long ldc, int acc)", "{"]
    if ps.name == "scalar":
        for i in range(mr):
            lines.append("    float " + ", ".join(f"{n} = 0.0f" for n in c[i]) + ";")

        def step(u):
            s = [f"const float b{j} = b[{u} * NR + {j}];" for j in range(nv)]
            for i in range(mr):
                s.append(f"{{ const float ai = a[{u} * MR + {i}]; " +
                         " ".join(f"{c[i][j]} += ai * b{j};" for j in range(nv)) + " }")
            return s
        lines += _kloop(step, U, "NR")
        for i in range(mr):
            for j in range(nv):
                lines.append(f"    c[{i} * ldc + {j}] = acc ? c[{i} * ldc + {j}] + {c[i][j]} : {c[i][j]};")
        lines.append("}")
        return "\n".join(lines)
    if ps.name == "neon":
        T, zero, load, store, add = "float32x4_t", "vdupq_n_f32(0.0f)", "vld1q_f32", "vst1q_f32", "vaddq_f32"
    for i in range(mr):
        lines.append(f"    {T} " + ", ".join(f"{n} = {zero}" for n in c[i]) + ";")

    def step(u):
        s = [f"const {T} b{j} = {load}(b + {u} * NR + {j * W});" for j in range(nv)]
        if ps.name == "neon":
            s += [f"const float32x4_t a{q} = vld1q_f32(a + {u} * MR + {4 * q});" for q in range(mr // 4)]
            for i in range(mr):
                for j in range(nv):
                    s.append(f"{c[i][j]} = vfmaq_laneq_f32({c[i][j]}, b{j}, a{i // 4}, {i % 4});")
        else:
            if ps.name == "avx512" and p.get("PF", 0):   # the A panel streams from L2: fetch it ahead
                s.append(f"_mm_prefetch((const char *)(a + ({u} + {8 * p['PF']}) * MR), _MM_HINT_T0);")
            for i in range(mr):
                s.append(f"{{ const {T} ai = {bc(f'a[{u} * MR + {i}]')}; " +
                         " ".join(f"{c[i][j]} = {fma}(ai, b{j}, {c[i][j]});" for j in range(nv)) + " }")
        return s
    if ps.name == "avx512" and p.get("PF", 0):         # the C tile is read/written after the k loop:
        # each row's first and last line (a row may start anywhere in a line) into L1, the lines
        # between into L2 only (into L1 they cost 2% where C is in L2 anyway: 512^3)
        lines += [f"    _mm_prefetch((const char *)(c + {i} * ldc), _MM_HINT_T0);" for i in range(mr)]
        lines += [f"    _mm_prefetch((const char *)(c + {i} * ldc + {nv * W - 1}), _MM_HINT_T0);" for i in range(mr)]
        lines += [f"    _mm_prefetch((const char *)(c + {i} * ldc + {o}), _MM_HINT_T1);"
                  for o in range(64 // 4, nv * W - 1, 64 // 4) for i in range(mr)]
    lines += _kloop(step, U, "NR")
    lines += _epilogue(c, lambda i, j: f"c + {i} * ldc + {j * W}",
                       add=lambda x, ptr: f"{add}({x}, {load}({ptr}))", store=lambda ptr, x: f"{store}({ptr}, {x})")
    return "\n".join(lines)


def _edge_kernels(ps: PrimitiveSet, p: dict, dim: str, tag: str, head: str, count: str) -> str:
    """The micro-kernel at each smaller value of `dim` (MR: ukernel_r1.., NV: ukernel_v1..; the
    panel strides stay MR and NR) and a dispatcher `head`... that switches on `count` (the full
    kernel for the full size)."""
    sizes = range(1, p[dim])
    parts = [_uk_fixed(ps, {**p, dim: v}).replace("void ukernel(", f"void ukernel_{tag}{v}(", 1) for v in sizes]
    cases = "\n".join(f"    case {v}: ukernel_{tag}{v}(kc, a, b, c, ldc, acc); break;" for v in sizes)
    return ("\n\n" + "\n\n".join(parts) +
            f"\n\nstatic void {head}, int kc, const float *restrict a, const float *restrict b,"
            "\n                         float *restrict c, long ldc, int acc)\n{\n"
            f"    switch ({count}) {{\n" + cases + "\n    default: ukernel(kc, a, b, c, ldc, acc); break;\n    }\n}")


def _epilogue(c: list[list[str]], ptr, *, add, store) -> list[str]:
    """Write the MR x NV accumulator tile back: add the old C first when `acc` (a later KC block)."""
    cells = [(i, j) for i in range(len(c)) for j in range(len(c[0]))]
    return ["    if (acc) {",
            *(f"        {c[i][j]} = {add(c[i][j], ptr(i, j))};" for i, j in cells),
            "    }",
            *(f"    {store(ptr(i, j), c[i][j])};" for i, j in cells),
            "}"]


def _uk_sve(p: dict) -> str:
    mr, nv, U = p["MR"], p["NV"], p["U"]
    c = _names(mr, nv)
    lines = ["static inline void ukernel(int kc, const float *restrict a, const float *restrict b,",
             "                           float *restrict c, long ldc, int acc)", "{",
             "    const svbool_t pg = svptrue_b32();", "    const long vl = (long)svcntw(), nr = NV * vl;"]
    for i in range(mr):
        lines.append("    svfloat32_t " + ", ".join(f"{n} = svdup_n_f32(0.0f)" for n in c[i]) + ";")

    def step(u):
        s = [f"const svfloat32_t b{j} = svld1_f32(pg, b + {u} * nr + {j} * vl);" for j in range(nv)]
        s += [f"const svfloat32_t a{q} = svld1rq_f32(pg, a + {u} * MR + {4 * q});" for q in range(mr // 4)]
        for i in range(mr):
            for j in range(nv):
                s.append(f"{c[i][j]} = svmla_lane_f32({c[i][j]}, b{j}, a{i // 4}, {i % 4});")
        return s
    lines += _kloop(step, U, "nr")
    lines += _epilogue(c, lambda i, j: f"c + {i} * ldc + {j} * vl",
                       add=lambda x, ptr: f"svadd_f32_x(pg, {x}, svld1_f32(pg, {ptr}))",
                       store=lambda ptr, x: f"svst1_f32(pg, {ptr}, {x})")
    return "\n".join(lines)


def _uk_rvv(p: dict) -> str:
    mr, nv, U, L = p["MR"], p["NV"], p["U"], p["LMUL"]
    c = _names(mr, nv)
    T, sfx = f"vfloat32m{L}_t", f"f32m{L}"
    lines = ["static inline void ukernel(int kc, const float *restrict a, const float *restrict b,",
             "                           float *restrict c, long ldc, int acc)", "{",
             f"    const size_t vl = __riscv_vsetvlmax_e32m{L}();", "    const long nr = NV * (long)vl;"]
    for i in range(mr):
        lines.append(f"    {T} " + ", ".join(f"{n} = __riscv_vfmv_v_f_{sfx}(0.0f, vl)" for n in c[i]) + ";")

    def step(u):
        s = [f"const {T} b{j} = __riscv_vle32_v_{sfx}(b + {u} * nr + {j} * (long)vl, vl);" for j in range(nv)]
        for i in range(mr):
            s.append(f"{{ const float ai = a[{u} * MR + {i}]; " +
                     " ".join(f"{c[i][j]} = __riscv_vfmacc_vf_{sfx}({c[i][j]}, ai, b{j}, vl);" for j in range(nv))
                     + " }")
        return s
    lines += _kloop(step, U, "nr")
    for i in range(mr):
        for j in range(nv):
            ptr = f"c + {i} * ldc + {j} * (long)vl"
            lines.append(f"    if (acc) {c[i][j]} = __riscv_vfadd_vv_{sfx}({c[i][j]}, __riscv_vle32_v_{sfx}({ptr}, vl), vl);")
            lines.append(f"    __riscv_vse32_v_{sfx}({ptr}, {c[i][j]}, vl);")
    lines.append("}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# small M (LLM decoding: M = 1..SM): a GEMV-shaped path. Packing B would read and write all of
# B once more for at most SM rows of work, so nothing is packed: A is read in place (broadcast
# scalars), B is streamed once from memory (k-groups of KG rows, each row segment contiguous),
# and a C chunk of M x nb floats stays in L1 while all of K passes through it ("axpy" form:
# C[i, j:j+16] += sum_u A[i, k+u] * B[k+u, j:j+16]). N edges use AVX-512 masked loads and
# stores, so there is no scalar tail. PF > 0 prefetches B rows PF k-groups ahead.

def _sm_rows_avx512(m: int, kg: int, pf: int) -> list[str]:
    """C[0:m, 0:nb] += A[0:m, 0:kb] * B[0:kb, 0:nb] for m rows (m <= 4), k-groups of kg."""
    L = [f"static void sm_rows{m}(int kb, int nb, const in_t *restrict A, long lda, const in_t *restrict B, "
         f"long ldb, float *restrict C, long ldc, int pf)", "{",
         "    const int nfull = nb & ~15;",
         "    const __mmask16 tail = (__mmask16)((1u << (nb & 15)) - 1u);",
         "    int k = 0;"]

    def body(g: int, masked: bool, pref: bool) -> list[str]:
        ld = (lambda ptr: f"_mm512_maskz_loadu_ps(tail, {ptr})") if masked else (lambda ptr: f"_mm512_loadu_ps({ptr})")
        ldb = (lambda ptr: f"LOADB_MASKED(tail, {ptr})") if masked else (lambda ptr: f"LOADB({ptr})")
        out = [f"__m512 c{r} = {ld(f'C + {r} * ldc + j')};" for r in range(m)]
        for u in range(g):
            out.append(f"{{ const __m512 bv = {ldb(f'b{u} + j')}; " +
                       " ".join(f"c{r} = _mm512_fmadd_ps(a{r}_{u}, bv, c{r});" for r in range(m)) + " }")
            if pref:
                out.append(f"_mm_prefetch((const char *)(b{u} + pfo + j), _MM_HINT_T0);")
        st = (lambda r: f"_mm512_mask_storeu_ps(C + {r} * ldc + j, tail, c{r});") if masked else \
            (lambda r: f"_mm512_storeu_ps(C + {r} * ldc + j, c{r});")
        out += [st(r) for r in range(m)]
        return out

    def group(g: int) -> list[str]:
        out = [f"const __m512 a{r}_{u} = _mm512_set1_ps(widen(A[{r} * lda + k + {u}]));" for r in range(m)
               for u in range(g)]
        out += [f"const in_t *b{u} = B + (long)(k + {u}) * ldb;" for u in range(g)]
        if pf and g == kg:
            out.append("const long pfo = (long)pf * KGRP * ldb;")
            out.append("if (pf && k + (pf + 1) * KGRP <= kb) {")
            out += ["    for (int j = 0; j < nfull; j += 16) {", *("        " + x for x in body(g, False, True)), "    }"]
            out.append("} else {")
            out += ["    for (int j = 0; j < nfull; j += 16) {", *("        " + x for x in body(g, False, False)), "    }"]
            out.append("}")
        else:
            out += ["for (int j = 0; j < nfull; j += 16) {", *("    " + x for x in body(g, False, False)), "}"]
        out += ["if (tail) {", "    const int j = nfull;", *("    " + x for x in body(g, True, False)), "}"]
        return out

    L.append(f"    for (; k + {kg} <= kb; k += {kg}) {{")
    L += ["        " + x.replace("KGRP", str(kg)) for x in group(kg)]
    L.append("    }")
    L.append("    for (; k < kb; k++) {")
    L += ["        " + x for x in group(1)]
    L.append("    }")
    L.append("}")
    return L


# 16 elements of a B row as f32 lanes (LOADB_MASKED: the first n of them, by mask, nothing read past)
# Before a loop converting the f32 tile to int32 C (i8): qemu-riscv64 7.2 aborts translating the
# vfcvt.rtz.x.f.v that clang's vectoriser emits for it; the conversion is M*N per K block, nothing
# next to the M*N*K multiply-adds.
NO_VECTORISE = "#if defined(__clang__)\n#pragma clang loop vectorize(disable) interleave(disable)\n#endif\n"

SM_LOADS = {
    "f32": "#define LOADB(p) _mm512_loadu_ps(p)\n#define LOADB_MASKED(m, p) _mm512_maskz_loadu_ps(m, p)",
    "f16": "#define LOADB(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))\n"
           "#define LOADB_MASKED(m, p) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p))",
    "bf16": "#define BF16_F32(v) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16))\n"
            "#define LOADB(p) BF16_F32(_mm256_loadu_si256((const __m256i *)(p)))\n"
            "#define LOADB_MASKED(m, p) BF16_F32(_mm256_maskz_loadu_epi16(m, p))",
    "i8": "#define LOADB(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))\n"
          "#define LOADB_MASKED(m, p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)))",
}


def _small_m_avx512(p: dict) -> str:
    pf = p.get("PF", 0)
    L = ["static float smbuf_[THREADS][4 * SM_NBMAX] __attribute__((aligned(64)));", ""]
    # one row (M = 1, GEMV-shaped): k-groups of 16 B rows, no software prefetch. The call streams B
    # once from DRAM; 16 unit-stride rows in flight keep more misses outstanding than 8, and the
    # hardware prefetchers follow them alone. Paired at 1x4096x4096 on an Ice Lake-SP: 16 rows 1.055x
    # [1.041, 1.072] of 8 (32: 0.944x of 16); without the prefetches 1.031x [1.018, 1.045] at 8 rows
    # and 1/0.963x at 16
    for m in (1, 2, 3, 4):
        L += _sm_rows_avx512(m, {1: 16, 2: 8}.get(m, 4), pf if m > 1 else 0)
        L.append("")
    L += ["/* M <= SM: no packing; C chunk (M x nb) in L1, B streamed once, rows in groups of <= 4. */",
          "static void gemm_small_m(int M, int N, int K, const in_t *A, long lda, const in_t *B, long ldb,",
          "                         out_t *C, long ldc, int tid)", "{",
          "    float *const smbuf = smbuf_[tid];",
          "    /* one or two rows: the widest C chunk that fits, so each B row streams through",
          "       in one long unit-stride run (what hardware prefetchers follow best); more rows: C chunk",
          "       plus a k-group of B rows in L1, the k block of B reused from L1/L2 by every row group */",
          "    long nbl = M <= 2 ? (SM_L1 / (long)sizeof(float)) / M : (SM_L1 / (long)sizeof(float)) / (M + 8);",
          "    nbl &= ~15L;",
          "    if (nbl < 64) nbl = 64;",
          "    if (nbl > SM_NBMAX) nbl = SM_NBMAX;",
          "    for (long jc = 0; jc < N; jc += nbl) {",
          "        const int nb = (int)(N - jc < nbl ? N - jc : nbl);",
          "        for (int pc = 0; pc < K; pc += SM_KB) {",
          "            const int kb = K - pc < SM_KB ? K - pc : SM_KB;",
          "            for (int i = 0; i < M; i += 4) {",
          "                const int m = M - i < 4 ? M - i : 4;",
          "                const in_t *a = A + (long)i * lda + pc;",
          "                const in_t *b = B + (long)pc * ldb + jc;",
          "                out_t *c = C + (long)i * ldc + jc;",
          "                const int pf = i == 0 ? PF : 0;     /* the first row group brings B in */",
          "                /* partial sums of this k block in an L1 buffer, then added to C: blocked",
          "                   summation (error grows with sqrt(K/SM_KB) + sqrt(SM_KB), not K) */",
          "                memset(smbuf, 0, (size_t)m * nb * sizeof(float));",
          "                switch (m) {",
          *(f"                case {m}: sm_rows{m}(kb, nb, a, lda, b, ldb, smbuf, nb, pf); break;" for m in (1, 2, 3, 4)),
          "                }",
          "                for (int r = 0; r < m; r++) {",
          "                    out_t *cr = c + (long)r * ldc;",
          "                    const float *t = smbuf + (long)r * nb;",
          "                    /* (int8: a block's sums are integers below 64 * 128 * 128 = 2^20, exact) */",
          "                    if (pc == 0) for (int j = 0; j < nb; j++) cr[j] = (out_t)t[j];",
          "                    else for (int j = 0; j < nb; j++) cr[j] += (out_t)t[j];",
          "                }",
          "            }",
          "        }",
          "    }",
          "}"]
    return "\n".join(L)


# ----------------------------------------------------------------------------------------
# the sketch: blocking, packing, edge handling (shared by every primitive set)


def render(ps_name: str, p: dict, l1_bytes: int = 48 * 1024, dtype: str = "f32", pack_b: str | None = None,
           edges: bool = True, space: ParamSpace | None = None, images: tuple[str, str] | None = None) -> str:
    """The complete kernel source for primitive set `ps_name` at parameter point `p`, for GEMM
    f32 or (dtype f16, bf16, i8) its low-precision variants (see WIDEN). AMX and the native
    low-precision sets are other families (registry.render chooses). `pack_b`: another statement
    that packs B's (pc, jc) block (conv.py's implicit GEMM; its small-M path is then left out,
    since that path reads B directly). `edges`: False leaves out the AVX-512/AVX2 edge micro-kernels
    (edge tiles then run the full one into the tile buffer): the compact sketch an LLM is shown,
    about a third of the text, as correct. `space`: the parameter space the kernel declares, where
    it is not the set's (its values are then the point's parameters of that space). `images`: the
    loop nest's several problems sharing A (abi_c.blocked_loops; conv.py's images of a batch)."""
    ps = SETS[ps_name]
    p = {**p}
    p.setdefault("LMUL", 1)
    exact_int = dtype == "i8"
    if exact_int:
        p["KC"] = min(p["KC"], 1024)
    mr, nv, L = p["MR"], p["NV"], p["LMUL"]
    row_edge = edge_tile = ""
    if ps.name == "rvv":
        nr_setup = f"const long nr = NV * (long)__riscv_vsetvlmax_e32m{L}();"
        uk = _uk_rvv(p)
    elif ps.name == "sve":
        nr_setup = "const long nr = NV * (long)svcntw();"
        uk = _uk_sve(p)
    else:
        nr_setup = "const long nr = NR;"
        uk = _uk_fixed(ps, p)
        if ps.name in ("avx512", "avx2") and mr > 1 and not exact_int and edges:
            # M edges without a cliff: a micro-kernel per partial row count (A panel stride stays MR),
            # so the last row tile computes only its rows, straight into C
            uk += _edge_kernels(ps, p, "MR", "r", "ukernel_rows(int m", "m")
            row_edge = ("                        } else if (n == nr) {\n"
                        "                            ukernel_rows(m, kc, ap, bp, cp, ldc, acc);\n")
            if nv > 1:
                # N edges likewise: a narrow last panel (n columns of nr) computes only the vectors
                # that hold its columns (the B panel stride stays NR), into the tile buffer
                uk += _edge_kernels(ps, p, "NV", "v", "ukernel_cols(long n", f"(n + {ps.lanes - 1}) / {ps.lanes}")
                edge_tile = "ukernel_cols(n, kc, ap, bp, ctile, nr, 0);"
    small = ""
    if ps.name == "avx512":
        p.setdefault("SM", 0)
        p.setdefault("PF", 0)
        if p["SM"] and pack_b is None:
            small = _small_m_avx512(p)
    small_defs = "" if not small else (f"#define SM {p['SM']}\n#define PF {p['PF']}\n#define SM_KB 64\n#define SM_NBMAX 8192\n"
                                       f"#define SM_L1 ({l1_bytes} / 2)\n{SM_LOADS[dtype]}\n")
    small_call = "    if (M <= SM) { gemm_small_m(M, N, K, A, lda, B, ldb, C, ldc, tid); return; }" if small else ""
    T = max(1, int(p.get("T", 1)))
    nrmax = ps.nrmax_expr or "NR"
    threads_abi = abi_body(T, "NR" if not ps.vla else "64", dtype)
    c_in, c_out = C_TYPES[dtype]
    fixed_nr = "" if ps.vla else f"#define NR ({nv * ps.lanes})\n"
    pstr = ", ".join(f"{k}={v}" for k, v in p.items())
    if exact_int:     # int32 C: every tile through the f32 tile buffer, added as integers
        full_tile = ("ukernel(kc, ap, bp, ctile, nr, 0);\n"
                     "                            for (int i = 0; i < MR; i++)\n"
                     f"{NO_VECTORISE}"
                     "                                for (long j = 0; j < nr; j++)\n"
                     "                                    cp[(long)i * ldc + j] = (acc ? cp[(long)i * ldc + j] : 0)"
                     " + (int32_t)ctile[i * nr + j];")
        edge_add = "(acc ? cp[(long)i * ldc + j] : 0) + (int32_t)ctile[i * nr + j]"
        edge_pragma = NO_VECTORISE
    else:
        full_tile = "ukernel(kc, ap, bp, cp, ldc, acc);"
        edge_pragma = ""
        edge_add = "acc ? cp[(long)i * ldc + j] + ctile[i * nr + j]\n                                                                : ctile[i * nr + j]"
    edge_note = ""
    if row_edge:
        edge_note = ("\n *   (a tile of m < MR rows runs a kernel of m rows straight into C" +
                     (",\n *   a last panel of n < NR columns one of the vectors that hold them)" if edge_tile else ")"))
    what = "GEMM f32" if dtype == "f32" else f"GEMM {dtype} ({c_in} inputs widened to f32 while packing, {c_out} C)"
    a_outer = bool(p.get("ORDER", 0))
    loops = blocked_loops("float", "kc", "kc", "", full_tile, row_edge, edge_pragma, edge_add,
                          **({"pack_b": pack_b} if pack_b else {}), edge_tile=edge_tile, images=images,
                          a_panel_outer=a_outer)
    tile_loops = ("for ir step MR (the A panel in L1) / for jr step NR (B's block streamed from L2)" if a_outer
                  else "for jr step NR / for ir step MR")
    return f"""/* {what} generated by tensorop's expert generator ({ps.name}).
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Micro-kernel: {ps.description}.
 *   Register tile MR x NR = {mr} x {"NV*lanes" if ps.vla else nv * ps.lanes} ({mr * nv} accumulator registers{f" of LMUL {L}" if L > 1 else ""}).
 *   Sketch (BLIS/Goto): for jc in N step NC / for pc in K step KC: pack B (NR-wide panels,
 *   k-major, zero-padded) / for ic in M step MC: pack A (MR-row panels, k-major, zero-padded) /
 *   {tile_loops}: micro-kernel.  The first K block stores C, later ones add.
 *   Edge tiles are computed into a local buffer and only their m x n part is written,
 *   so nothing outside C's M x N region is read or written{edge_note}.  Static packing buffers:
 *   single-threaded, not re-entrant.  Parameters: {pstr}.
 */
{ps.space.block(p) if space is None else space.block({k: v for k, v in p.items() if k in space.params})}
{ps.include}
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef {c_in} in_t;
typedef {c_out} out_t;
{WIDEN[dtype]}

#define MR {mr}
#define NV {nv}
#define LMUL {L}
#define KC {p["KC"]}
#define MC {p["MC"]}
#define NC {p["NC"]}
{fixed_nr}#define NRMAX {nrmax}
{small_defs}
#define MC_BLK ((MC / MR) * MR)

#define THREADS {T}
static float packA_[THREADS][(MC_BLK + MR) * KC] __attribute__((aligned(64)));
static float packB_[THREADS][(NC + NRMAX) * KC] __attribute__((aligned(64)));
static float ctile_[THREADS][MR * NRMAX] __attribute__((aligned(64)));

{uk}

{small}

/* A[0:mc, 0:kc] -> MR-row panels Ap[k*MR + i] (f32), rows past mc zero-filled. */
static void pack_A(int mc, int kc, const in_t *restrict A, long lda, float *restrict Ap)
{{
    for (int p = 0; p < mc; p += MR) {{
        const int m = mc - p < MR ? mc - p : MR;
        if (m == MR) {{      /* full panel: k outer, the MR rows inner (unrolled): contiguous writes */
            const in_t *s = A + (long)p * lda;
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < MR; i++) Ap[(long)k * MR + i] = widen(s[(long)i * lda + k]);
            Ap += (long)MR * kc;
            continue;
        }}
        for (int i = 0; i < MR; i++) {{
            float *d = Ap + i;
            if (i < m) {{
                const in_t *s = A + (long)(p + i) * lda;
                for (int k = 0; k < kc; k++) d[(long)k * MR] = widen(s[k]);
            }} else {{
                for (int k = 0; k < kc; k++) d[(long)k * MR] = 0.0f;
            }}
        }}
        Ap += (long)MR * kc;
    }}
}}

/* B[0:kc, 0:nc] -> nr-column panels Bp[k*nr + j] (f32), columns past nc zero-filled. */
static void pack_B(int kc, int nc, long nr, const in_t *restrict B, long ldb, float *restrict Bp)
{{
    for (int q = 0; q < nc; q += (int)nr) {{
        const long w = nc - q < nr ? nc - q : nr;
        const in_t *s = B + q;
        if (w == nr) {{          /* full panel: an inline copy (a memcpy call per row costs more than it moves) */
            for (int k = 0; k < kc; k++) {{
                for (long j = 0; j < nr; j++) Bp[j] = widen(s[j]);
                Bp += nr;
                s += ldb;
            }}
            continue;
        }}
        for (int k = 0; k < kc; k++) {{
            for (long j = 0; j < w; j++) Bp[j] = widen(s[j]);
            for (long j = w; j < nr; j++) Bp[j] = 0.0f;
            Bp += nr;
            s += ldb;
        }}
    }}
}}

/* C[:, 0:N] of one thread's column range, with thread `tid`'s private buffers. */
static void gemm_part(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc,
                      int tid)
{{
    float *const packA = packA_[tid], *const packB = packB_[tid], *const ctile = ctile_[tid];
{small_call}
    {nr_setup}
{loops}}}
{threads_abi}
"""
