"""Expert templates: low-precision GEMM with the device's own low-precision instructions on ARM
(NEON: SMMLA, SDOT, BFMMLA, FMLAL/FMLAL2, FCVTL) and RISC-V (RVV widening integer multiply-add),
beside the widening templates of cpu_gemm.py (which convert A and B to f32 while packing and run
the f32 micro-kernel on any CPU).

Each native set packs A and B in their input type, in the k-groups its instruction consumes:
    panel[(g * W + line) * KG + q] = X[line][g * KG + q]
for the W rows of an A panel (W = MR) or the W columns of a B panel (W = NR), k-groups of KG
elements, zero-padded past K and past the matrix edge. KG is the instruction's k depth:

    set            dtype  needs    KG  instruction (per 128-bit op)
    neon-i8mm      i8     i8mm      8  SMMLA  2x8 by 8x2 int8 -> 2x2 int32 (32 MACs)
    neon-sdot      i8     dotprod   4  SDOT by element, 4 x 4-wide int8 dots -> 4 int32 (16 MACs)
    neon-bf16mmla  bf16   bf16      4  BFMMLA 2x4 by 4x2 bf16 -> 2x2 f32 (16 MACs)
    neon-fhm       f16    fhm       1  FMLAL/FMLAL2 by element, f16 x f16 -> f32 (4 MACs, exact products)
    neon-f16cvt    f16    (NEON)    1  FCVTL/FCVTL2 f16 -> f32 in registers, then FMLA by element
    rvv-i8         i8     rvv       1  vle8 + vsext.vf2 to i16 + vwmacc.vx i16 x i16 -> i32 (IW 0),
                                       or vwmul.vx i8 x i8 -> i16 + vwadd.wv into i32 (IW 1)
    avx512-vnni-i8 i8     avx512_vnni 4  VPDPBUSD u8 x s8, 4-deep dots into 16 int32 lanes (64 MACs per
                                       512-bit op); A is packed as u8 = a + 128 (a XOR 0x80) and each B
                                       panel carries 128 x its column sums after its k-groups, which the
                                       micro-kernel subtracts: exact int32 at any K (|sum| < 2^31 for
                                       K < 2^17)

int8 sums are exact in the int32 accumulators at any K; f16/bf16 products are exact in f32 and
summed in f32 (BFMMLA: Arm's BF16 dot semantics, f32 sums). The ARM sets compile with a
per-function target attribute (the toolchain's -march need not name the feature); the expert plan
only picks a set whose features the device's profile declares (`available`), so a kernel never
executes an instruction its device lacks. RVV has no Zvfh f16 path: QEMU 7.2 cannot run Zvfh (its
rv64 CPU has no zvfh property; clang-19 builds -march=rv64gcv_zvfh, the binary dies with SIGILL),
so f16/bf16 on RVV stay with the widening template.

Sketch: as cpu_gemm.py (BLIS/Goto: jc step NC / pc step KC: pack B / ic step MC: pack A / jr step
NR / ir step MR: micro-kernel; edge tiles through a local buffer, so nothing outside C's M x N
region is read or written). Parameters: MR, NR (NEON) or NV, LMUL (RVV: NR = NV * VLEN*LMUL/32),
KC, MC, NC, U (k-group unroll), IW (rvv-i8 widening form).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.core.space import ParamSpace
from harness.generate.templates.abi_c import C_TYPES, abi, abi_body, blocked_loops

# Linux /proc/cpuinfo and HWCAP names -> the feature names devices.yaml and the sets use
FEATURE_ALIASES = {"asimddp": "dotprod", "asimdfhm": "fhm", "fp16fml": "fhm", "asimdhp": "fp16", "fphp": "fp16",
                   "v": "rvv", "rvv1.0": "rvv", "zve32x": "rvv"}


def canonical_features(flags) -> set[str]:
    """The flags plus their canonical names (asimddp -> dotprod, asimdfhm -> fhm, ...)."""
    f = {x.lower() for x in flags}
    return f | {FEATURE_ALIASES[x] for x in f if x in FEATURE_ALIASES}


@dataclass(frozen=True)
class NativeSet:
    name: str
    dtype: str
    arch: str                     # aarch64 | riscv64 | x86_64
    needs: frozenset              # canonical features the device must declare
    kg: int                       # k elements per packed group
    target: str                   # per-function target attribute ("" none)
    include: str
    space: ParamSpace
    seeds: tuple                  # expert starting points, best-known first
    ukernel: Callable[[dict], str]
    description: str
    mnemonic: str                 # the instruction that must appear in the object code
    vla: bool = False             # NR known only at run time (RVV)
    prefer: bool = True           # planned before the widening template (False: after it)
    unsigned_a: bool = False      # A packed as u8 = a XOR 0x80; B panels carry 128 x column sums (VNNI)

    def cost(self, p: dict) -> float:
        """Ranking of untried points: instructions per k-group of the register tile (loads of A and
        B plus the multiply-adds) over the MACs it does; lower is better."""
        if self.vla:
            mr, nv = p["MR"], p["NV"]
            return (mr * nv * (1 + 0.5 * p["LMUL"]) + 2 * nv + 0.5 * mr) / (mr * nv * p["LMUL"])
        mr, nr = p["MR"], p["NR"]
        if self.arch == "x86_64":     # VPDPBUSD: 16 columns x 4 k per op, one broadcast per A row
            return (mr * nr / 16 + nr / 16 + mr + 1.0 / p["U"]) / (mr * nr)
        if self.kg == 1:   # FMLAL / FCVTL+FMLA: 4 columns per op
            ops = mr * nr / 4 + nr / 8 + mr / 4 + (nr / 4 + mr / 4 if self.name == "neon-f16cvt" else 0)
        elif self.name == "neon-sdot":
            ops = mr * nr / 4 + nr / 4 + mr / 4
        else:              # MMLA: 2 x 2 outputs per op
            ops = mr * nr / 4 + nr / 2 + mr / 2
        return (ops + 1.0 / p["U"]) / (mr * nr)


SETS: dict[str, NativeSet] = {}


def _blocks(kc=(128, 256, 512, 1024, 2048)):
    return {"KC": list(kc), "MC": [32, 48, 64, 96, 112, 120, 128, 192, 256], "NC": [256, 512, 1024, 2048, 4096],
            "U": [1, 2, 4]}


def _tile(mr, nr, *rest):
    return {"MR": mr, "NR": nr, **dict(zip(("KC", "MC", "NC", "U"), rest))}


# ---- micro-kernels -----------------------------------------------------------------------
# static inline void ukernel(int kg, const in_t *restrict a, const in_t *restrict b,
#                            out_t *restrict c, long ldc, int acc)
# a: packed MR-row panel, b: packed NR-column panel (k-groups as above); kg k-groups;
# c: MR x NR tile, row stride ldc; acc: add to c (later k blocks) instead of overwriting.

HEAD = ["TARGET static inline void ukernel(int kg, const in_t *restrict a, const in_t *restrict b,",
        "                                  out_t *restrict c, long ldc, int acc)", "{"]


def _gloop(step: Callable[[int], list[str]], U: int, a_adv: str, b_adv: str) -> list[str]:
    out = ["    int g = 0;"]
    if U > 1:
        out.append(f"    for (; g + {U} <= kg; g += {U}) {{")
        for u in range(U):
            out += ["        {", *("            " + s for s in step(u)), "        }"]
        out += [f"        a += {U} * {a_adv}; b += {U} * {b_adv};", "    }"]
    out.append("    for (; g < kg; g++) {")
    out += ["        " + s for s in step(0)]
    out += [f"        a += {a_adv}; b += {b_adv};", "    }"]
    return out


def _store_rows(cells: list[tuple[str, str]], vec: str, add: str, load: str, store: str) -> list[str]:
    """Write (pointer expression, register) pairs back, adding the old C first when acc."""
    out = ["    if (acc) {", *(f"        {r} = {add}({r}, {load}({ptr}));" for ptr, r in cells), "    }"]
    return out + [f"    {store}({ptr}, {r});" for ptr, r in cells]


def _uk_mmla(dtype: str) -> Callable[[dict], str]:
    """SMMLA (i8) / BFMMLA (bf16): accumulator (p, q) holds the 2 x 2 block C[2p:2p+2, 2q:2q+2]
    as [c00 c01 c10 c11]; A vector p = rows 2p, 2p+1 of a k-group, B vector q = columns 2q, 2q+1."""
    if dtype == "i8":
        acc_t, zero, vec, ld, mm = "int32x4_t", "vdupq_n_s32(0)", "int8x16_t", "vld1q_s8", "vmmlaq_s32"
        to64, from64, cld, cst, cadd = "vreinterpretq_s64_s32", "vreinterpretq_s32_s64", "vld1q_s32", "vst1q_s32", \
            "vaddq_s32"
        z1, z2 = "vzip1q_s64", "vzip2q_s64"
    else:
        acc_t, zero, vec, mm = "float32x4_t", "vdupq_n_f32(0.0f)", "bfloat16x8_t", "vbfmmlaq_f32"
        ld = "LD_BF16"
        to64, from64, cld, cst, cadd = "vreinterpretq_u64_f32", "vreinterpretq_f32_u64", "vld1q_f32", "vst1q_f32", \
            "vaddq_f32"
        z1, z2 = "vzip1q_u64", "vzip2q_u64"
    kg = 8 if dtype == "i8" else 4

    def uk(p: dict) -> str:
        P, Q, U = p["MR"] // 2, p["NR"] // 2, p["U"]
        L = list(HEAD)
        if dtype == "bf16":
            L.insert(0, "#define LD_BF16(p) vreinterpretq_bf16_u16(vld1q_u16(p))")
        L += [f"    {acc_t} " + ", ".join(f"c{i}_{j} = {zero}" for j in range(Q)) + ";" for i in range(P)]

        def step(u):
            s = [f"const {vec} a{i} = {ld}(a + {u} * MR * KG + {2 * kg * i});" for i in range(P)]
            s += [f"const {vec} b{j} = {ld}(b + {u} * NR * KG + {2 * kg * j});" for j in range(Q)]
            s += [f"c{i}_{j} = {mm}(c{i}_{j}, a{i}, b{j});" for i in range(P) for j in range(Q)]
            return s
        L += _gloop(step, U, "MR * KG", "NR * KG")
        cells = []
        for i in range(P):
            for j in range(0, Q, 2):      # two 2 x 2 blocks side by side -> two 4-wide rows
                L.append(f"    {acc_t} r{2 * i}_{j} = {from64}({z1}({to64}(c{i}_{j}), {to64}(c{i}_{j + 1})));")
                L.append(f"    {acc_t} r{2 * i + 1}_{j} = {from64}({z2}({to64}(c{i}_{j}), {to64}(c{i}_{j + 1})));")
                cells += [(f"c + {2 * i} * ldc + {2 * j}", f"r{2 * i}_{j}"),
                          (f"c + {2 * i + 1} * ldc + {2 * j}", f"r{2 * i + 1}_{j}")]
        L += _store_rows(cells, acc_t, cadd, cld, cst)
        return "\n".join(L + ["}"])
    return uk


def _uk_sdot(p: dict) -> str:
    """SDOT by element: B vector j = columns 4j..4j+3 x 4 k (16 bytes), A vector q = rows
    4q..4q+3 x 4 k; c_i_j[t] += dot(B col 4j+t, A row i) over the group's 4 k."""
    mr, nv, U = p["MR"], p["NR"] // 4, p["U"]
    L = list(HEAD)
    L += ["    int32x4_t " + ", ".join(f"c{i}_{j} = vdupq_n_s32(0)" for j in range(nv)) + ";" for i in range(mr)]

    def step(u):
        s = [f"const int8x16_t b{j} = vld1q_s8(b + {u} * NR * KG + {16 * j});" for j in range(nv)]
        s += [f"const int8x16_t a{q} = vld1q_s8(a + {u} * MR * KG + {16 * q});" for q in range(mr // 4)]
        s += [f"c{i}_{j} = vdotq_laneq_s32(c{i}_{j}, b{j}, a{i // 4}, {i % 4});" for i in range(mr) for j in range(nv)]
        return s
    L += _gloop(step, U, "MR * KG", "NR * KG")
    cells = [(f"c + {i} * ldc + {4 * j}", f"c{i}_{j}") for i in range(mr) for j in range(nv)]
    L += _store_rows(cells, "int32x4_t", "vaddq_s32", "vld1q_s32", "vst1q_s32")
    return "\n".join(L + ["}"])


def _uk_f16(widen_in_registers: bool) -> Callable[[dict], str]:
    """f16 -> f32: B vector j = 8 columns of one k, A quad q = rows 4q..4q+3 (f16 bits).
    FMLAL/FMLAL2 by element multiply the low/high 4 halves by an A lane into f32 (exact products);
    without FHM, FCVTL/FCVTL2 widen B and A in registers and FMLA by element accumulates."""
    def uk(p: dict) -> str:
        mr, nv, U = p["MR"], p["NR"] // 8, p["U"]
        L = list(HEAD)
        L += ["    float32x4_t " + ", ".join(f"c{i}_{j} = vdupq_n_f32(0.0f)" for j in range(2 * nv)) + ";"
              for i in range(mr)]

        def step(u):
            s = [f"const float16x8_t h{j} = vreinterpretq_f16_u16(vld1q_u16(b + {u} * NR + {8 * j}));"
                 for j in range(nv)]
            s += [f"const float16x4_t g{q} = vreinterpret_f16_u16(vld1_u16(a + {u} * MR + {4 * q}));"
                  for q in range(mr // 4)]
            if widen_in_registers:
                s += [f"const float32x4_t b{2 * j} = vcvt_f32_f16(vget_low_f16(h{j})), "
                      f"b{2 * j + 1} = vcvt_high_f32_f16(h{j});" for j in range(nv)]
                s += [f"const float32x4_t a{q} = vcvt_f32_f16(g{q});" for q in range(mr // 4)]
                s += [f"c{i}_{j} = vfmaq_laneq_f32(c{i}_{j}, b{j}, a{i // 4}, {i % 4});"
                      for i in range(mr) for j in range(2 * nv)]
            else:
                for i in range(mr):
                    for j in range(nv):
                        s.append(f"c{i}_{2 * j} = vfmlalq_lane_low_f16(c{i}_{2 * j}, h{j}, g{i // 4}, {i % 4});")
                        s.append(f"c{i}_{2 * j + 1} = vfmlalq_lane_high_f16(c{i}_{2 * j + 1}, h{j}, g{i // 4}, "
                                 f"{i % 4});")
            return s
        L += _gloop(step, U, "MR", "NR")
        cells = [(f"c + {i} * ldc + {4 * j}", f"c{i}_{j}") for i in range(mr) for j in range(2 * nv)]
        L += _store_rows(cells, "float32x4_t", "vaddq_f32", "vld1q_f32", "vst1q_f32")
        return "\n".join(L + ["}"])
    return uk


RVV_TYPES = {1: ("mf4", "mf2", "m1"), 2: ("mf2", "m1", "m2"), 4: ("m1", "m2", "m4"), 8: ("m2", "m4", "m8")}


def _uk_rvv_i8(p: dict) -> str:
    """RVV int8: accumulators vint32m<LMUL>; per k, NV B vectors of int8 (LMUL/4) and MR A scalars.
    IW 0: B sign-extended once to int16 (vsext.vf2), then one vwmacc.vx (i16 x i16 -> i32) per
    accumulator; IW 1: vwmul.vx (i8 x i8 -> i16, exact) then vwadd.wv into the i32 accumulator."""
    mr, nv, U, Lm, iw = p["MR"], p["NV"], p["U"], p["LMUL"], p.get("IW", 0)
    e8, e16, e32 = RVV_TYPES[Lm]
    L = ["static inline void ukernel(int kg, const in_t *restrict a, const in_t *restrict b,",
         "                           out_t *restrict c, long ldc, int acc)", "{",
         f"    const size_t vl = __riscv_vsetvlmax_e32{e32}();", "    const long nr = NV * (long)vl;"]
    L += [f"    vint32{e32}_t " + ", ".join(f"c{i}_{j} = __riscv_vmv_v_x_i32{e32}(0, vl)" for j in range(nv)) + ";"
          for i in range(mr)]

    def step(u):
        if iw == 0:
            s = [f"const vint16{e16}_t b{j} = __riscv_vsext_vf2_i16{e16}(__riscv_vle8_v_i8{e8}(b + {u} * nr + {j} * "
                 f"(long)vl, vl), vl);" for j in range(nv)]
            for i in range(mr):
                s.append(f"{{ const int16_t ai = a[{u} * MR + {i}]; " + " ".join(
                    f"c{i}_{j} = __riscv_vwmacc_vx_i32{e32}(c{i}_{j}, ai, b{j}, vl);" for j in range(nv)) + " }")
        else:
            s = [f"const vint8{e8}_t b{j} = __riscv_vle8_v_i8{e8}(b + {u} * nr + {j} * (long)vl, vl);"
                 for j in range(nv)]
            for i in range(mr):
                s.append(f"{{ const int8_t ai = a[{u} * MR + {i}]; " + " ".join(
                    f"c{i}_{j} = __riscv_vwadd_wv_i32{e32}(c{i}_{j}, __riscv_vwmul_vx_i16{e16}(b{j}, ai, vl), vl);"
                    for j in range(nv)) + " }")
        return s
    L += _gloop(step, U, "MR", "nr")
    for i in range(mr):
        for j in range(nv):
            ptr = f"c + {i} * ldc + {j} * (long)vl"
            L.append(f"    if (acc) c{i}_{j} = __riscv_vadd_vv_i32{e32}(c{i}_{j}, __riscv_vle32_v_i32{e32}({ptr}, vl), vl);")
            L.append(f"    __riscv_vse32_v_i32{e32}({ptr}, c{i}_{j}, vl);")
    return "\n".join(L + ["}"])


def _uk_vnni(p: dict) -> str:
    """AVX-512 VNNI int8: B vector j = 16 columns x one k-group of 4 (64 bytes), A row i's 4 bytes of
    the group broadcast to every lane; c_i_j += dpbusd(A row i as u8, B as s8). The packed A is
    a + 128, so the sums carry 128 x the B column sums of the block, which pack_B stored after the
    panel's k-groups (as int32): subtracted once at the end."""
    mr, nv, U = p["MR"], p["NR"] // 16, p["U"]
    helpers = """/* pack_B's vector helpers: one full k-group of 4 rows x 16 columns interleaved into the
   packed layout (4 bytes of a column side by side) by byte and word unpacks */
TARGET static inline void vnni_group16(const in_t *s, long ldb, in_t *d)
{
    const __m128i r0 = _mm_loadu_si128((const __m128i *)s), r1 = _mm_loadu_si128((const __m128i *)(s + ldb));
    const __m128i r2 = _mm_loadu_si128((const __m128i *)(s + 2 * ldb));
    const __m128i r3 = _mm_loadu_si128((const __m128i *)(s + 3 * ldb));
    const __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    const __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(t1, t3));
}

/* 128 x the column sums of a packed panel (kp k's, nr columns), as int32 after its k-groups:
   VPDPBUSD of u8 ones against the panel adds each column's 4 k of a group into its lane */
TARGET static inline void vnni_sums(in_t *panel, int kp, long nr)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (long j = 0; j < nr; j += 16) {
        __m512i acc = _mm512_setzero_si512();
        for (int g = 0; g < kp; g += KG)
            acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512((const void *)(panel + (long)g * nr + j * KG)));
        _mm512_storeu_si512((void *)(panel + nr * kp + j * KG), _mm512_slli_epi32(acc, 7));
    }
}

"""
    L = list(HEAD)
    L.insert(3, "    const in_t *const sums = b + (long)kg * NR * KG;      /* 128 x column sums (int32) */")
    L += ["    __m512i " + ", ".join(f"c{i}_{j} = _mm512_setzero_si512()" for j in range(nv)) + ";" for i in range(mr)]

    def step(u):
        s = [f"const __m512i b{j} = _mm512_loadu_si512((const void *)(b + {u} * NR * KG + {64 * j}));"
             for j in range(nv)]
        for i in range(mr):
            s.append(f"{{ int32_t w; memcpy(&w, a + {u} * MR * KG + {4 * i}, 4); const __m512i ai = "
                     f"_mm512_set1_epi32(w); " + " ".join(f"c{i}_{j} = _mm512_dpbusd_epi32(c{i}_{j}, ai, b{j});"
                                                        for j in range(nv)) + " }")
        return s
    L += _gloop(step, U, "MR * KG", "NR * KG")
    L += [f"    const __m512i s{j} = _mm512_loadu_si512((const void *)(sums + {64 * j}));" for j in range(nv)]
    for i in range(mr):
        for j in range(nv):
            ptr = f"c + {i} * ldc + {16 * j}"
            L.append(f"    c{i}_{j} = _mm512_sub_epi32(c{i}_{j}, s{j});")
            L.append(f"    if (acc) c{i}_{j} = _mm512_add_epi32(c{i}_{j}, _mm512_loadu_si512((const void *)({ptr})));")
            L.append(f"    _mm512_storeu_si512((void *)({ptr}), c{i}_{j});")
    return helpers + "\n".join(L + ["}"])


# ---- the sets ----------------------------------------------------------------------------
def _neon_space(mr, nr, tile_regs: str, esize: int, kc=(128, 256, 512, 1024, 2048)):
    return ParamSpace({"MR": list(mr), "NR": list(nr), **_blocks(kc)},
                      [tile_regs, f"KC * NR * {esize} <= l1d", f"KC * MC * {esize} <= l2", "MC >= MR", "NC >= NR"])


def _register(s: NativeSet):
    SETS[s.name] = s


# Seeds are ordered by modelled cycles at 256^3 (docs/OPERATORS.md, the low-precision table): arm64-qemu
# (neoverse-v1) i8mm 4x16 2.21e5, 6x12 2.26e5, 8x8 2.27e5 (sdot 8x12 3.42e5, widening SVE 1.13e6);
# bf16mmla 10x8 4.24e5, 6x12 4.43e5, 8x8 4.85e5 (widening 1.09e6); fhm 4x24 1.14e6 (widening 1.18e6:
# FMLAL does 4 MACs per op, as FMLA f32 does); a76-qemu sdot 8x12 7.09e5 (widening 4.41e6), f16cvt
# 6.1e6 (widening 4.48e6: the FCVTLs cost more than widening once while packing); rv64-qemu
# (sifive-x280) i8 3x1 LMUL 8 3.66e6, 6x1 LMUL 4 4.29e6, IW 1 (vwmul + vwadd) 5.15e6.
_register(NativeSet(
    "neon-i8mm", "i8", "aarch64", frozenset({"i8mm"}), 8, "i8mm", "#include <arm_neon.h>",
    _neon_space((2, 4, 6, 8, 10, 12), (4, 8, 12, 16),
                "MR % 2 == 0 and NR % 4 == 0 and (MR // 2) * (NR // 2) + MR // 2 + NR // 2 <= vregs", 1),
    (_tile(4, 16, 512, 128, 1024, 2), _tile(6, 12, 512, 120, 1024, 2), _tile(8, 8, 512, 128, 1024, 2),
     _tile(10, 8, 512, 120, 1024, 2)),
    _uk_mmla("i8"), "SMMLA (FEAT_I8MM): 2x8 int8 by 8x2 int8 into 2x2 int32 per instruction, "
    "A and B packed in k-groups of 8", "smmla"))

_register(NativeSet(
    "neon-sdot", "i8", "aarch64", frozenset({"dotprod"}), 4, "dotprod", "#include <arm_neon.h>",
    _neon_space((4, 8, 12), (4, 8, 12, 16, 20, 24),
                "MR % 4 == 0 and NR % 4 == 0 and MR * NR // 4 + NR // 4 + MR // 4 <= vregs", 1),
    (_tile(8, 12, 512, 128, 1024, 2), _tile(4, 16, 512, 128, 1024, 2), _tile(8, 8, 512, 128, 1024, 2),
     _tile(12, 8, 512, 96, 1024, 2)),
    _uk_sdot, "SDOT by element (FEAT_DotProd): four 4-deep int8 dot products into int32 lanes, "
    "A and B packed in k-groups of 4", "sdot"))

_register(NativeSet(
    "neon-bf16mmla", "bf16", "aarch64", frozenset({"bf16"}), 4, "bf16", "#include <arm_neon.h>",
    _neon_space((2, 4, 6, 8, 10, 12), (4, 8, 12, 16),
                "MR % 2 == 0 and NR % 4 == 0 and (MR // 2) * (NR // 2) + MR // 2 + NR // 2 <= vregs", 2,
                (128, 256, 512, 1024)),
    (_tile(10, 8, 256, 120, 1024, 2), _tile(6, 12, 256, 120, 1024, 2), _tile(8, 8, 256, 128, 1024, 2),
     _tile(4, 16, 256, 128, 1024, 2)),
    _uk_mmla("bf16"), "BFMMLA (FEAT_BF16): 2x4 bf16 by 4x2 bf16 into 2x2 f32 per instruction, "
    "A and B packed in k-groups of 4", "bfmmla"))

_F16_SPACE = ("MR % 4 == 0 and NR % 8 == 0 and MR * NR // 4 + NR // 8 + MR // 4 <= vregs")
_register(NativeSet(
    "neon-fhm", "f16", "aarch64", frozenset({"fhm"}), 1, "fp16fml", "#include <arm_neon.h>",
    _neon_space((4, 8, 12), (8, 16, 24), _F16_SPACE, 2, (128, 256, 512, 1024)),
    (_tile(4, 24, 256, 128, 1024, 2), _tile(4, 16, 256, 128, 1024, 4), _tile(8, 8, 256, 128, 1024, 4)),
    _uk_f16(False), "FMLAL/FMLAL2 by element (FEAT_FHM): f16 x f16 products added exactly into f32 lanes, "
    "A and B packed as f16", "fmlal"))

_register(NativeSet(
    "neon-f16cvt", "f16", "aarch64", frozenset(), 1, "", "#include <arm_neon.h>",
    _neon_space((4, 8, 12), (8, 16, 24), _F16_SPACE.replace("MR // 4 <=", "MR // 4 + NR // 4 + MR // 4 <="),
                2, (128, 256, 512, 1024)),
    (_tile(4, 16, 256, 128, 1024, 4), _tile(8, 8, 256, 128, 1024, 4)),
    _uk_f16(True), "FCVTL/FCVTL2 f16 -> f32 in registers, then FMLA by element; A and B packed as f16",
    "fcvtl", prefer=False))

_register(NativeSet(
    "rvv-i8", "i8", "riscv64", frozenset({"rvv"}), 1, "", "#include <riscv_vector.h>",
    ParamSpace({"MR": [1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15], "NV": [1, 2, 3, 4], "LMUL": [1, 2, 4, 8],
                **_blocks(), "IW": [0, 1]},
               ["(MR * NV + NV) * LMUL <= vregs", "KC * NV * LMUL * lanes <= 2 * l1d", "KC * MC <= l2",
                "MC >= MR", "NC >= NV * LMUL * lanes"]),
    ({"MR": 3, "NV": 1, "LMUL": 8, "KC": 512, "MC": 120, "NC": 1024, "U": 1, "IW": 0},
     {"MR": 3, "NV": 1, "LMUL": 8, "KC": 1024, "MC": 120, "NC": 1024, "U": 4, "IW": 0},
     {"MR": 6, "NV": 1, "LMUL": 4, "KC": 512, "MC": 120, "NC": 1024, "U": 2, "IW": 0},
     {"MR": 3, "NV": 1, "LMUL": 8, "KC": 512, "MC": 120, "NC": 1024, "U": 2, "IW": 1}),
    _uk_rvv_i8, "RVV 1.0 widening integer multiply-add: int8 B rows sign-extended to int16 (vsext.vf2), "
    "vwmacc.vx into int32 accumulators of LMUL groups (IW 1: vwmul.vx + vwadd.wv)", "vwmacc", vla=True))


# x86-64 with AVX-512 VNNI (Cascade Lake, Ice Lake; Sapphire Rapids plans AMX first)
_register(NativeSet(
    "avx512-vnni-i8", "i8", "x86_64", frozenset({"avx512_vnni"}), 4, "avx512f,avx512bw,avx512vnni",
    "#include <immintrin.h>",
    ParamSpace({"MR": [4, 6, 8, 10, 12, 14], "NR": [16, 32, 48, 64], **_blocks((256, 512, 1024, 2048))},
               ["NR % 16 == 0 and MR * (NR // 16) + NR // 16 + 1 <= vregs", "KC * NR <= l1d", "KC * MC <= l2",
                "MC >= MR", "NC >= NR"]),
    # paired against MKL's cblas_gemm_s8u8s32 at 1024^3 on this host (Ice Lake-SP): 6x64 KC 512 MC 96 U 4
    # 0.936x [0.919, 0.953], MC 192 0.917x, 4x64 KC 256 0.848x, 6x48 KC 256 0.838x, 12x32 KC 256 0.747x,
    # 8x32 KC 256 0.724x; U 2 costs ~0.3 (8x32 KC 512: U 2 0.605x)
    (_tile(6, 64, 512, 96, 2048, 4), _tile(6, 64, 512, 192, 2048, 4), _tile(4, 64, 256, 192, 2048, 4),
     _tile(6, 48, 256, 192, 2048, 4)),
    _uk_vnni, "AVX-512 VNNI VPDPBUSD: A (as u8 = a + 128) broadcast 4 bytes at a time against 16 columns "
    "x 4 k of int8 B into int32 lanes; B panels carry 128 x their column sums, subtracted at the end",
    "vpdpbusd", unsigned_a=True))


def available(dtype: str, arch: str, features) -> list[str]:
    """The native sets for dtype that the device's features allow, best first."""
    arch = "x86_64" if arch == "amd64" else arch
    f = canonical_features(features)
    if arch == "aarch64":
        f.add("neon")
    return [s.name for s in SETS.values() if s.dtype == dtype and s.arch == arch and s.needs <= f]


LOWP_INSTRUCTIONS = {  # (arch, feature) -> what the hardware factors list among the key instructions
    ("aarch64", "i8mm"): "smmla (int8 2x8 by 8x2 -> int32 2x2, FEAT_I8MM)",
    ("aarch64", "dotprod"): "sdot by element (4-deep int8 dot products -> int32)",
    ("aarch64", "bf16"): "bfmmla / bfdot (bf16 -> f32)",
    ("aarch64", "fhm"): "fmlal / fmlal2 (f16 x f16 -> f32 lanes)",
    ("riscv64", "rvv"): "vwmacc.vx / vsext.vf2 (int8 -> int16 -> int32 widening multiply-add)",
    ("x86_64", "avx512_vnni"): "vpdpbusd (u8 x s8 4-deep dots -> int32 lanes, AVX-512 VNNI)",
}


def lowp_instructions(arch: str, features) -> tuple[str, ...]:
    arch = "x86_64" if arch == "amd64" else arch
    f = canonical_features(features)
    return tuple(v for (a, feat), v in LOWP_INSTRUCTIONS.items() if a == arch and feat in f)


# ---- the sketch --------------------------------------------------------------------------
def render(name: str, p: dict) -> str:
    s = SETS[name]
    p = dict(p)
    kg = s.kg
    p["KC"] = max(kg, p["KC"] // kg * kg)
    p.setdefault("U", 1)
    c_in, c_out = C_TYPES[s.dtype]
    T = max(1, int(p.get("T", 1)))
    mr = p["MR"]
    if s.vla:
        p.setdefault("IW", 0)
        nr_defs = f"#define NV {p['NV']}\n#define LMUL {p['LMUL']}\n#define NRMAX (NV * LMUL * 32)\n"
        nr_setup = f"const long nr = NV * (long)__riscv_vsetvlmax_e32{RVV_TYPES[p['LMUL']][2]}();"
        tile = f"{mr} x NV*VLEN*LMUL/32"
    else:
        nr_defs = f"#define NR {p['NR']}\n#define NRMAX NR\n"
        nr_setup = "const long nr = NR;"
        tile = f"{mr} x {p['NR']}"
    target = f'__attribute__((target("{s.target}")))' if s.target else ""
    # full B k-groups: VNNI packs them with the set's vector helper, 16 columns at a time; other int8
    # sets copy a group column by column (KG bytes side by side, the KG rows read in step), which
    # models 7-18% faster at 256^3 than row by row; for bf16 it models 15% slower, so only int8
    if s.unsigned_a:
        pack_b_fast = """            if (w == nr && g + KG <= kc) {
                for (long j = 0; j < nr; j += 16) vnni_group16(B + (long)g * ldb + q0 + j, ldb, d + j * KG);
                continue;
            }
"""
    elif s.dtype == "i8" and kg > 1:
        pack_b_fast = """            if (w == nr && g + KG <= kc) {      /* full group: column j's KG values side by side */
                const in_t *s = B + (long)g * ldb + q0;
                for (long j = 0; j < nr; j++)
                    for (int q = 0; q < KG; q++) d[j * KG + q] = s[(long)q * ldb + j];
                continue;
            }
"""
    else:
        pack_b_fast = ""
    a_val = "(in_t)((uint8_t)s[q] ^ 0x80u)" if s.unsigned_a else "s[q]"
    # VNNI: each B panel carries NR int32 = 128 x its column sums (one more k-group's bytes)
    b_sums = "" if not s.unsigned_a else "        vnni_sums(Bp, kp, nr);            /* 128 x the column sums, after the k-groups */\n"
    b_extra = " + KG" if s.unsigned_a else ""
    space_vals = {k: v for k, v in p.items() if k in s.space.params}
    pstr = ", ".join(f"{k}={v}" for k, v in p.items())
    loops = blocked_loops("in_t", "kp", "kg", "            const int kp = (kc + KG - 1) / KG * KG, kg = kp / KG;\n",
                          "ukernel(kg, ap, bp, cp, ldc, acc);",
                          edge_add="acc ? cp[(long)i * ldc + j] + ctile[i * nr + j]\n"
                                   "                                                                : ctile[i * nr + j]",
                          b_stride=f"(kp{b_extra})")
    return f"""/* GEMM {s.dtype} generated by tensorop's expert generator ({s.name}): native {s.dtype} instructions.
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   {c_in} inputs, {c_out} C{", exact int32 sums" if s.dtype == "i8" else ", f32 accumulation"}.
 *   Micro-kernel: {s.description}.
 *   Register tile MR x NR = {tile}.
 *   Packing: A in MR-row panels, B in NR-column panels, both {c_in}, in k-groups of KG = {kg}
 *   (panel[(g*W + line)*KG + q] = X[line][g*KG + q]), zero-padded past K and past the edges.
 *   Sketch (BLIS/Goto): for jc in N step NC / for pc in K step KC: pack B / for ic in M step MC:
 *   pack A / for jr step NR / for ir step MR: micro-kernel. The first K block stores C, later ones
 *   add. Edge tiles are computed in full into a local buffer and only their m x n part is written,
 *   so nothing outside C's M x N region is read or written. Static packing buffers.
 *   Parameters: {pstr}.
 */
{s.space.block(space_vals)}
{s.include}
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef {c_in} in_t;
typedef {c_out} out_t;

#define MR {mr}
{nr_defs}#define KG {kg}
#define KC {p["KC"]}
#define MC {p["MC"]}
#define NC {p["NC"]}
#define MC_BLK ((MC / MR) * MR)
#define THREADS {T}
#define TARGET {target}

static in_t packA_[THREADS][(MC_BLK + MR) * KC] __attribute__((aligned(64)));
static in_t packB_[THREADS][(NC + NRMAX) * (KC + KG)] __attribute__((aligned(64)));
static out_t ctile_[THREADS][MR * NRMAX] __attribute__((aligned(64)));

{s.ukernel(p)}

/* A[0:mc, 0:kc] -> MR-row panels in k-groups: Ap[(g*MR + i)*KG + q] = A[i][g*KG + q], zero-padded. */
static void pack_A(int mc, int kc, const in_t *restrict A, long lda, in_t *restrict Ap)
{{
    const int kp = (kc + KG - 1) / KG * KG;
    for (int p = 0; p < mc; p += MR) {{
        const int m = mc - p < MR ? mc - p : MR;
        for (int g = 0; g < kp; g += KG) {{
            for (int i = 0; i < MR; i++) {{
                in_t *d = Ap + (long)g * MR + (long)i * KG;
                const in_t *s = A + (long)(p + (i < m ? i : 0)) * lda + g;
                if (i < m && g + KG <= kc) {{
                    for (int q = 0; q < KG; q++) d[q] = {a_val};
                }} else {{
                    for (int q = 0; q < KG; q++) d[q] = (i < m && g + q < kc) ? {a_val} : (in_t)0;
                }}
            }}
        }}
        Ap += (long)MR * kp;
    }}
}}

/* B[0:kc, 0:nc] -> nr-column panels in k-groups: Bp[(g*nr + j)*KG + q] = B[g*KG + q][j], zero-padded. */
static void pack_B(int kc, int nc, long nr, const in_t *restrict B, long ldb, in_t *restrict Bp)
{{
    const int kp = (kc + KG - 1) / KG * KG;
    for (int q0 = 0; q0 < nc; q0 += (int)nr) {{
        const long w = nc - q0 < nr ? nc - q0 : nr;
        for (int g = 0; g < kp; g += KG) {{
            in_t *d = Bp + (long)g * nr;
{pack_b_fast}            for (int q = 0; q < KG; q++) {{
                const in_t *s = B + (long)(g + q < kc ? g + q : 0) * ldb + q0;
                const long have = g + q < kc ? w : 0;
                for (long j = 0; j < have; j++) d[j * KG + q] = s[j];
                for (long j = have; j < nr; j++) d[j * KG + q] = (in_t)0;
            }}
        }}
{b_sums}        Bp += nr * (kp{b_extra});
    }}
}}

/* C[:, 0:N] of one thread's column range, with thread `tid`'s private buffers. */
TARGET static void gemm_part(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C,
                             int ldc, int tid)
{{
    in_t *const packA = packA_[tid], *const packB = packB_[tid];
    out_t *const ctile = ctile_[tid];
    {nr_setup}
{loops}}}
{abi_body(T, "64" if s.vla else "NR", s.dtype)}"""


__all__ = ["SETS", "NativeSet", "available", "canonical_features", "render", "abi"]
