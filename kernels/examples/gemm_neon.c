/* Hand-optimised GEMM f32 for AArch64 Advanced SIMD / NEON (reference example kernel).
 *
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Build: clang-19 --target=aarch64-linux-gnu -march=armv8.2-a+fp16+sve -O3 -ffp-contract=fast
 *
 * Register blocking: MR = 8 rows x NR = 12 columns.
 *   v-regs: 24 accumulators (8 rows x 3 quad-vectors), 2 for a column of A (8 floats),
 *   3 for a row of B (12 floats): 29 of the 32 vector registers.
 *   Per k step: one load of 8 packed A values, one load of 12 packed B values and
 *   24 x "fmla vC.4s, vB.4s, vA.s[lane]" (FMA by element: the A value is taken from a lane
 *   of the A register, so no broadcasts are needed); both loads post-increment their
 *   pointer, so a k step is 2 loads + 24 fmla + subs/b.ne = 28 instructions for 96 FMAs.
 *   For the N remainder the same kernel is instantiated with NR = 8 and NR = 4 (16 / 8
 *   accumulators), so e.g. N = 128 = 10*12 + 8 wastes no FMAs on zero padding.
 *
 * Cache blocking (BLIS / Goto style):
 *   for jc in N step NC; for pc in K step KC:  pack B[pc:+KC, jc:+NC] into 12/8/4-wide panels
 *     for ic in M step MC:                     pack A[ic:+MC, pc:+KC] into 8-row panels
 *       for jr (panel of B, ~KC*48 B in L1); for ir (panel of A, from L2): micro-kernel
 *   The first K chunk overwrites C, later chunks add to it.
 *   Packed A: Ap[k*8 + i] (a column of the 8-row panel is one contiguous 32-byte load); it is
 *   transposed while loading with ld4 (single lane) from 8 rows.  Packed B: Bp[k*w + j] for
 *   a panel of width w, copied with 3-register ld1/st1.
 *
 * Edges: packing pads A panels with zero rows and B panels with zero columns (to a multiple
 * of 4); a tile that sticks out of C is computed in full and only its m x n part is copied
 * out through a small buffer, so nothing outside C's MxN region is read or written.
 * Packing buffers are static (sized by the block sizes, not by M,N,K); single-threaded.
 */
#include <arm_neon.h>
#include <stddef.h>

#define MR 8
#define NR 12
#define KC 256
#define MC 128          /* multiple of MR; MC*KC*4 = 128 KiB of packed A */
#define NC 3072         /* multiple of NR; KC*NC*4 = 3 MiB of packed B   */

static float packA[MC * KC] __attribute__((aligned(64)));
static float packB[KC * NC] __attribute__((aligned(64)));

/* Pack rows [0,mc) x cols [0,kc) of A into 8-row panels: Ap[k*8 + i] = A[p+i][k]. */
static void pack_A(int mc, int kc, const float *A, size_t lda, float *Ap)
{
    for (int p = 0; p < mc; p += MR) {
        int m = mc - p < MR ? mc - p : MR;
        const float *a = A + (size_t)p * lda;
        int k = 0;
        if (m == MR) {
            /* 8 rows x 4 k per step: "ld4 {v0.s-v3.s}[i], [row i]" loads A[i][k..k+3] into
               lane i of four registers, i.e. it transposes while loading; lo.val[t] then holds
               A[0..3][k+t] and hi.val[t] holds A[4..7][k+t].  0.4 instructions per element. */
            float32x4x4_t lo = {{vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}};
            float32x4x4_t hi = lo;
            for (; k + 4 <= kc; k += 4) {
                lo = vld4q_lane_f32(a + 0 * lda + k, lo, 0);
                lo = vld4q_lane_f32(a + 1 * lda + k, lo, 1);
                lo = vld4q_lane_f32(a + 2 * lda + k, lo, 2);
                lo = vld4q_lane_f32(a + 3 * lda + k, lo, 3);
                hi = vld4q_lane_f32(a + 4 * lda + k, hi, 0);
                hi = vld4q_lane_f32(a + 5 * lda + k, hi, 1);
                hi = vld4q_lane_f32(a + 6 * lda + k, hi, 2);
                hi = vld4q_lane_f32(a + 7 * lda + k, hi, 3);
                for (int t = 0; t < 4; t++) {
                    vst1q_f32(Ap + 8 * t, lo.val[t]);
                    vst1q_f32(Ap + 8 * t + 4, hi.val[t]);
                }
                Ap += 4 * MR;
            }
        }
        for (; k < kc; k++) {                           /* K remainder, or an M-edge panel */
            for (int i = 0; i < MR; i++)
                Ap[i] = i < m ? a[(size_t)i * lda + k] : 0.0f;
            Ap += MR;
        }
    }
}

/* Width of the B panel that starts with nrem columns left: 12, or nrem rounded up to 4. */
static inline int panel_width(int nrem)
{
    return nrem >= NR ? NR : (nrem + 3) & ~3;
}

/* Pack rows [0,kc) x cols [0,nc) of B into panels of width w = panel_width(...):
   the panel starting at column q is stored at Bp + q*kc as kc rows of w floats. */
static void pack_B(int kc, int nc, const float *B, size_t ldb, float *Bp)
{
    for (int q = 0; q < nc; q += NR) {
        int w = panel_width(nc - q), n = nc - q < w ? nc - q : w;
        const float *b = B + q;
        float *d = Bp + (size_t)q * kc;
        if (n == 12) {                                  /* one ld1/st1 of 3 regs per row */
            for (int k = 0; k < kc; k++, b += ldb, d += 12)
                vst1q_f32_x3(d, vld1q_f32_x3(b));
        } else if (n == w) {
            for (int k = 0; k < kc; k++, b += ldb, d += w)
                for (int j = 0; j < w; j += 4)
                    vst1q_f32(d + j, vld1q_f32(b + j));
        } else {                                        /* N edge: zero-pad to w */
            for (int k = 0; k < kc; k++, b += ldb, d += w)
                for (int j = 0; j < w; j++)
                    d[j] = j < n ? b[j] : 0.0f;
        }
    }
}

/* 8 x (4*NV) micro-kernel (NV = 3, 2 or 1 quad-vectors per row, a compile-time constant
   after inlining).  Ap: kc x 8 packed, Bp: kc x 4*NV packed.  Writes the top-left m x n
   part of the tile to C (acc != 0: adds to C). */
static inline __attribute__((always_inline))
void ukernel(const int NV, int kc, const float *restrict Ap, const float *restrict Bp,
             float *restrict C, size_t ldc, int m, int n, int acc)
{
    float32x4_t c[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < NV; j++)
            c[i][j] = vdupq_n_f32(0.0f);

    /* Not unrolled on purpose: with 29 live vector registers, unrolling lets the scheduler
       hoist the next step's loads and spill accumulators.  Post-indexed loads make the
       rolled loop cost only subs + b.ne on top of the 2 loads + 24 fmla. */
#pragma clang loop unroll(disable)
    for (int k = 0; k < kc; k++) {
        float32x4_t a0 = vld1q_f32(Ap), a1 = vld1q_f32(Ap + 4);
        float32x4_t b[3];
        if (NV == 3) {                  /* one "ld1 {v.4s-v.4s}, [x], #48" */
            float32x4x3_t t = vld1q_f32_x3(Bp);
            b[0] = t.val[0], b[1] = t.val[1], b[2] = t.val[2];
        } else {
            for (int j = 0; j < NV; j++)
                b[j] = vld1q_f32(Bp + 4 * j);
        }
        for (int j = 0; j < NV; j++) {
            c[0][j] = vfmaq_laneq_f32(c[0][j], b[j], a0, 0);
            c[1][j] = vfmaq_laneq_f32(c[1][j], b[j], a0, 1);
            c[2][j] = vfmaq_laneq_f32(c[2][j], b[j], a0, 2);
            c[3][j] = vfmaq_laneq_f32(c[3][j], b[j], a0, 3);
            c[4][j] = vfmaq_laneq_f32(c[4][j], b[j], a1, 0);
            c[5][j] = vfmaq_laneq_f32(c[5][j], b[j], a1, 1);
            c[6][j] = vfmaq_laneq_f32(c[6][j], b[j], a1, 2);
            c[7][j] = vfmaq_laneq_f32(c[7][j], b[j], a1, 3);
        }
        Ap += MR;
        Bp += 4 * NV;
    }

    if (m == MR && n == 4 * NV) {                       /* full tile: straight to C */
        for (int i = 0; i < 8; i++) {
            float *cr = C + (size_t)i * ldc;
            for (int j = 0; j < NV; j++) {
                float32x4_t v = c[i][j];
                if (acc) v = vaddq_f32(v, vld1q_f32(cr + 4 * j));
                vst1q_f32(cr + 4 * j, v);
            }
        }
    } else {                                            /* edge tile: via a buffer */
        float t[8][12];
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < NV; j++)
                vst1q_f32(&t[i][4 * j], c[i][j]);
        for (int i = 0; i < m; i++) {
            float *cr = C + (size_t)i * ldc;
            for (int j = 0; j < n; j++)
                cr[j] = acc ? cr[j] + t[i][j] : t[i][j];
        }
    }
}

static void ukernel_8x12(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(3, kc, Ap, Bp, C, ldc, m, n, acc); }
static void ukernel_8x8(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(2, kc, Ap, Bp, C, ldc, m, n, acc); }
static void ukernel_8x4(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(1, kc, Ap, Bp, C, ldc, m, n, acc); }

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int acc = pc > 0;                           /* first K chunk overwrites C */
            pack_B(kc, nc, B + (size_t)pc * ldb + jc, (size_t)ldb, packB);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                pack_A(mc, kc, A + (size_t)ic * lda + pc, (size_t)lda, packA);
                for (int jr = 0; jr < nc; jr += NR) {
                    int w = panel_width(nc - jr), n = nc - jr < w ? nc - jr : w;
                    const float *Bp = packB + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = mc - ir < MR ? mc - ir : MR;
                        const float *Ap = packA + (size_t)ir * kc;
                        float *Ct = C + (size_t)(ic + ir) * ldc + jc + jr;
                        if (w == 12)     ukernel_8x12(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                        else if (w == 8) ukernel_8x8(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                        else             ukernel_8x4(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                    }
                }
            }
        }
    }
}
