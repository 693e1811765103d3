"""Expert template: GEMM bf16 (f32 C) and int8 (int32 C) on Intel AMX tiles (Sapphire Rapids and
later: amx_tile + amx_bf16 / amx_int8 in the cpuinfo flags).

One TDPBF16PS (TDPBSSD) multiplies a 16 x 32 bf16 (16 x 64 int8) tile of A by a 32 x 16 (64 x 16)
tile of B held in the VNNI layout (pairs / quads of consecutive k in one 32-bit element) and adds
the 16 x 16 f32 (int32) product to a C tile: 16 K multiply-adds per instruction and lane, against
one per lane for an AVX-512 FMA. Eight tile registers hold a 2 x 2 block of C tiles (32 x 32 of C),
two A tiles and two B tiles.

Sketch (BLIS/Goto with tiles): for jc in N step NC / for pc in K step KC: pack B (32-column panels
in the VNNI tile layout, zero-padded) / for ic in M step MC: pack A (16-row tiles, k steps of 64
bytes, zero-padded) / for jr step 32 / for ir step 32: the 2 x 2 tile micro-kernel. Full 32 x 32
blocks of C are loaded into and stored from the tiles in place (the first K block starts from
zero); edge blocks go through a 32 x 32 buffer and only their m x n part is written. Packing is
AVX-512 (zero-extend and shift pairs/quads into 32-bit words; masked loads at edges).

The kernel uses AMX only after the timing driver asked the kernel for tile-data permission
(arch_prctl ARCH_REQ_XCOMP_PERM, done by tensorop's driver before the kernel runs: a kernel may
make no system call). f16 has no AMX instruction before AMX-FP16 (Granite Rapids), so f16 keeps
the widening templates.
"""
from __future__ import annotations

from harness.core.space import ParamSpace
from harness.generate.templates.abi_c import abi_body

DTYPES = {"bf16": {"need": {"amx_tile", "amx_bf16"}, "in": "uint16_t", "out": "float", "kp": 2,
                   "dp": "_tile_dpbf16ps", "what": "bf16 x bf16 -> f32 (TDPBF16PS)"},
          "i8": {"need": {"amx_tile", "amx_int8"}, "in": "int8_t", "out": "int32_t", "kp": 4,
                 "dp": "_tile_dpbssd", "what": "s8 x s8 -> s32 (TDPBSSD)"}}

SPACE = ParamSpace({"KC": [128, 256, 512, 1024, 2048], "MC": [64, 128, 256, 512], "NC": [256, 512, 1024, 2048, 4096]},
                   ["KC * MC * 2 <= 2 * l2", "MC >= 32", "NC >= 32"])
SEEDS = ({"KC": 512, "MC": 256, "NC": 1024}, {"KC": 1024, "MC": 128, "NC": 1024},
         {"KC": 256, "MC": 256, "NC": 2048}, {"KC": 512, "MC": 128, "NC": 512})


def available(dtype: str, features) -> bool:
    spec = DTYPES.get(dtype)
    return bool(spec) and spec["need"] <= {f.lower() for f in features}


def _pack_b(kp: int) -> str:
    """B[0:kc, 0:nc] -> VNNI tiles: for each 16-column tile u and k step s, 16 rows of 16 32-bit
    words, word c of row r holding B[s*TK + r*KP + q][u*16 + c] for q < KP (low byte/half first)."""
    if kp == 2:
        load = "_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(cm, src))"
    else:
        load = "_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(cm, src))"
    return f"""static void pack_B(int kc, int nc, const in_t *restrict B, long ldb, in_t *restrict Bp)
{{
    const int ks = (kc + TK - 1) / TK, nt = 2 * ((nc + 31) / 32);
    for (int u = 0; u < nt; u++) {{
        const int j0 = u * 16, w = nc - j0 < 16 ? (nc - j0 > 0 ? nc - j0 : 0) : 16;
        const __mmask16 cm = (__mmask16)((1u << w) - 1u);
        uint32_t *dst = (uint32_t *)(Bp + (long)u * ks * 16 * TK);
        for (int s = 0; s < ks; s++)
            for (int r = 0; r < 16; r++, dst += 16) {{
                __m512i word = _mm512_setzero_si512();
                for (int q = 0; q < KP; q++) {{
                    const int k = s * TK + r * KP + q;
                    if (k < kc && w > 0) {{
                        const in_t *src = B + (long)k * ldb + j0;
                        word = _mm512_or_si512(word, _mm512_slli_epi32({load}, {8 * (4 // kp)} * q));
                    }}
                }}
                _mm512_storeu_si512(dst, word);
            }}
    }}
}}"""


def _pack_a() -> str:
    return """/* A[0:mc, 0:kc] -> tiles: for each 16-row tile t and k step s, 16 rows of TK elements (64 bytes). */
static void pack_A(int mc, int kc, const in_t *restrict A, long lda, in_t *restrict Ap)
{
    const int ks = (kc + TK - 1) / TK, mt = 2 * ((mc + 31) / 32);
    for (int t = 0; t < mt; t++)
        for (int s = 0; s < ks; s++) {
            const int k0 = s * TK, kw = kc - k0 < TK ? kc - k0 : TK;
            const __mmask64 km = kw == 64 ? ~(__mmask64)0 : (((__mmask64)1 << kw) - 1);
            in_t *dst = Ap + ((long)t * ks + s) * 16 * TK;
            for (int r = 0; r < 16; r++) {
                const int i = t * 16 + r;
                __m512i row = _mm512_setzero_si512();
                if (i < mc)
                    row = KLOAD(km, A + (long)i * lda + k0);
                _mm512_storeu_si512(dst + r * TK, row);
            }
        }
}"""


def render(dtype: str, p: dict) -> str:
    spec = DTYPES[dtype]
    kp, dp = spec["kp"], spec["dp"]
    T = max(1, int(p.get("T", 1)))
    tk = 32 if kp == 2 else 64                        # elements per 64-byte tile row: bf16 32, int8 64
    kc = max(tk, p["KC"] // tk * tk)
    mc = max(32, p["MC"] // 32 * 32)
    nc = max(32, p["NC"] // 32 * 32)
    kload = ("_mm512_maskz_loadu_epi16((__mmask32)(km), (const void *)(ptr))" if kp == 2
             else "_mm512_maskz_loadu_epi8(km, (const void *)(ptr))")
    params = ", ".join(f"{k}={v}" for k, v in {**p, "KC": kc, "MC": mc, "NC": nc}.items())
    zero_or_load = "\n".join(
        f"    if (acc) _tile_loadd({t}, C + {r} * 16 * ldc + {c} * 16, ldc * 4); else _tile_zero({t});"
        for t, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))))
    store_c = "\n".join(f"    _tile_stored({t}, C + {r} * 16 * ldc + {c} * 16, ldc * 4);"
                        for t, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))))
    return f"""/* GEMM {dtype} generated by tensorop's expert generator (amx): {spec['what']}.
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Micro-kernel: a 2 x 2 block of 16 x 16 C tiles (32 x 32 of C) on AMX tile registers 0-3, A tiles
 *   4-5, B tiles 6-7 (VNNI layout, {kp} consecutive k per 32-bit word); {tk} k per tile step.
 *   Sketch: for jc step NC / for pc step KC: pack B / for ic step MC: pack A / for jr step 32 /
 *   for ir step 32: micro-kernel. Full blocks of C are tile-loaded and stored in place; edge blocks
 *   go through a local 32 x 32 buffer, so nothing outside C's M x N region is read or written.
 *   Needs tile-data permission (the tensorop driver requests it). Parameters: {params}.
 */
{SPACE.block({k: v for k, v in p.items() if k in SPACE.params} | {"KC": kc, "MC": mc, "NC": nc})}
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef {spec['in']} in_t;
typedef {spec['out']} out_t;
#define KP {kp}
#define TK {tk}
#define KC {kc}
#define MC {mc}
#define NC {nc}
#define THREADS {T}
#define KLOAD(km, ptr) {kload}

static in_t packA_[THREADS][(MC + 32) * KC] __attribute__((aligned(64)));
static in_t packB_[THREADS][(NC + 32) * KC] __attribute__((aligned(64)));
static out_t ctile_[THREADS][32 * 32] __attribute__((aligned(64)));

typedef struct {{
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
}} tilecfg_t;

static void tiles_on(void)
{{
    tilecfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {{
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }}
    _tile_loadconfig(&cfg);
}}

{_pack_a()}

{_pack_b(kp)}

/* C[0:32, 0:32] (row stride ldc) = (acc: C +) A tiles (t0, t0+1) x B tiles (u0, u0+1) over ks k steps */
static inline void block(int ks, const in_t *a, const in_t *b, out_t *C, long ldc, int acc)
{{
{zero_or_load}
    const long astep = 16 * TK, bstep = 16 * TK;
    const in_t *a1 = a + (long)ks * astep, *b1 = b + (long)ks * bstep;
    for (int s = 0; s < ks; s++) {{
        _tile_loadd(4, a + s * astep, 64);
        _tile_loadd(6, b + s * bstep, 64);
        _tile_loadd(5, a1 + s * astep, 64);
        _tile_loadd(7, b1 + s * bstep, 64);
        {dp}(0, 4, 6);
        {dp}(1, 4, 7);
        {dp}(2, 5, 6);
        {dp}(3, 5, 7);
    }}
{store_c}
}}

static void gemm_part(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc,
                      int tid)
{{
    in_t *const packA = packA_[tid], *const packB = packB_[tid];
    out_t *const ctile = ctile_[tid];
    tiles_on();
    for (int jc = 0; jc < N; jc += NC) {{
        const int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {{
            const int kc = K - pc < KC ? K - pc : KC, ks = (kc + TK - 1) / TK;
            const int acc = pc > 0;
            pack_B(kc, nc, B + (long)pc * ldb + jc, ldb, packB);
            for (int ic = 0; ic < M; ic += MC) {{
                const int mc = M - ic < MC ? M - ic : MC;
                pack_A(mc, kc, A + (long)ic * lda + pc, lda, packA);
                for (int jr = 0; jr < nc; jr += 32) {{
                    const int n = nc - jr < 32 ? nc - jr : 32;
                    const in_t *bp = packB + (long)(jr / 16) * ks * 16 * TK;
                    for (int ir = 0; ir < mc; ir += 32) {{
                        const int m = mc - ir < 32 ? mc - ir : 32;
                        const in_t *ap = packA + (long)(ir / 16) * ks * 16 * TK;
                        out_t *cp = C + (long)(ic + ir) * ldc + jc + jr;
                        if (m == 32 && n == 32) {{
                            block(ks, ap, bp, cp, ldc, acc);
                        }} else {{
                            block(ks, ap, bp, ctile, 32, 0);
                            for (int i = 0; i < m; i++)
                                for (int j = 0; j < n; j++)
                                    cp[(long)i * ldc + j] = (acc ? cp[(long)i * ldc + j] : 0) + ctile[i * 32 + j];
                        }}
                    }}
                }}
            }}
        }}
    }}
    _tile_release();
}}
{abi_body(T, "32", dtype)}
"""
