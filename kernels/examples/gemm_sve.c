/* Hand-optimised GEMM f32 for AArch64 SVE (reference example kernel).
 *
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Build: clang-19 --target=aarch64-linux-gnu -march=armv8.2-a+fp16+sve -O3 -ffp-contract=fast
 *
 * Vector-length agnostic: the tile width is a multiple of svcntw() (floats per vector), read
 * at run time, so one binary is correct at every SVE vector length (128..2048 bits).
 *
 * Register blocking: MR = 8 rows x NR = 3 vectors (3*VL floats; 24 at VL = 256 bits).
 *   z-regs: 24 accumulators (8 rows x 3 vectors) + 3 for a row of B + 2 for A = 29 of 32.
 *   A is loaded with ld1rqw (svld1rq: 4 consecutive floats replicated into every 128-bit
 *   segment) and used by the indexed FMA "fmla zC.s, zB.s, zA.s[i]" (svmla_lane), which
 *   multiplies by element i of each segment, i.e. by A[row i] everywhere.  No broadcasts:
 *   per k step 2 ld1rqw (8 A values) + 3 ld1w (B row) + 24 fmla = 24*VL FMAs; the k loop is
 *   unrolled 2x so loads use immediate offsets (SVE has no post-increment addressing) and
 *   loop overhead is ~1.5 instructions per step.
 *   The N remainder uses the same kernel with 2 or 1 vectors per row (16 / 8 accumulators).
 *
 * Cache blocking (BLIS / Goto style):
 *   for jc in N step NC; for pc in K step KC:  pack B[pc:+KC, jc:+NC] into 3-vector panels
 *     for ic in M step MC:                     pack A[ic:+MC, pc:+KC] into 8-row panels
 *       for jr (B panel, L1); for ir (A panel, L2): micro-kernel
 *   The first K chunk overwrites C, later chunks add to it.
 *   Packed A: Ap[k*8 + i] (A[0..3][k] and A[4..7][k] are two adjacent 16-byte ld1rqw loads),
 *   written with contiguous row loads + scatter stores.  Packed B: Bp[k*w + j], w = panel
 *   width (a whole number of vectors).
 *
 * Edges: A panels are padded with zero rows, B panels with zero columns (packing uses
 * svwhilelt predicates, so nothing past row M / column N is read); the write-back uses
 * svwhilelt column predicates and skips rows >= m, so nothing outside C's MxN region is
 * touched.  Packing buffers are static (sized for the largest SVE vector length, 2048 bits);
 * single-threaded.
 */
#include <arm_sve.h>
#include <stddef.h>
#include <stdint.h>

#define MR 8
#define NV 3                         /* vectors per tile row */
#define KC 256
#define MC 128                       /* multiple of MR */
#define BUF_B (KC * 3072)            /* floats: NC = largest multiple of NV*VL <= 3072 */

static float packA[MC * KC] __attribute__((aligned(64)));
static float packB[BUF_B] __attribute__((aligned(64)));

/* Pack rows [0,mc) x cols [0,kc) of A into 8-row panels: Ap[k*8 + i] = A[p+i][k] (zero
   for rows >= mc).  Each row is read with contiguous loads and written with a scatter store
   (element k goes to offset 8k): 2 instructions per VL elements. */
static void pack_A(int mc, int kc, const float *A, size_t lda, float *Ap)
{
    const svuint32_t off = svindex_u32(0, MR * sizeof(float));   /* byte offsets 32*lane */
    const int vl = (int)svcntw();
    for (int p = 0; p < mc; p += MR) {
        for (int i = 0; i < MR; i++) {
            const float *a = A + (size_t)(p + i) * lda;
            for (int k = 0; k < kc; k += vl) {
                svbool_t pg = svwhilelt_b32(k, kc);
                svfloat32_t v = p + i < mc ? svld1_f32(pg, a + k) : svdup_n_f32(0.0f);
                svst1_scatter_u32offset_f32(pg, Ap + MR * k + i, off, v);
            }
        }
        Ap += MR * kc;
    }
}

/* Pack rows [0,kc) x cols [0,nc) of B into panels of width w = min(NV*VL, nc rounded up to
   whole vectors): the panel starting at column q is stored at Bp + q*kc, kc rows of w floats
   (columns >= nc are zero: the predicated load gives 0 in inactive lanes). */
static void pack_B(int kc, int nc, const float *B, size_t ldb, float *Bp)
{
    const int vl = (int)svcntw(), nr = NV * vl;
    for (int q = 0; q < nc; q += nr) {
        int n = nc - q < nr ? nc - q : nr;
        int w = (n + vl - 1) / vl * vl;
        const float *b = B + q;
        float *d = Bp + (size_t)q * kc;
        if (w == nr && n == nr) {                    /* full panel */
            svbool_t pt = svptrue_b32();
            for (int k = 0; k < kc; k++, b += ldb, d += nr) {
                svst1_f32(pt, d, svld1_f32(pt, b));
                svst1_vnum_f32(pt, d, 1, svld1_vnum_f32(pt, b, 1));
                svst1_vnum_f32(pt, d, 2, svld1_vnum_f32(pt, b, 2));
            }
        } else {
            for (int k = 0; k < kc; k++, b += ldb, d += w)
                for (int j = 0; j < w; j += vl)
                    svst1_f32(svptrue_b32(), d + j, svld1_f32(svwhilelt_b32(j, n), b + j));
        }
    }
}

/* SVE vectors are sizeless types and cannot form arrays, so the 8 x 3 accumulators are
   named c<row><vec> and the per-row code is generated with macros. */
#define FMA_ROW(i, a, l)                                                     \
    c##i##0 = svmla_lane_f32(c##i##0, b0, a, l);                             \
    if (nv > 1) c##i##1 = svmla_lane_f32(c##i##1, b1, a, l);                 \
    if (nv > 2) c##i##2 = svmla_lane_f32(c##i##2, b2, a, l);

#define STORE_VEC(i, j)                                                      \
    if (nv > j) {                                                            \
        svbool_t pc = svwhilelt_b32(j * vl, n);                              \
        svfloat32_t v = c##i##j;                                             \
        if (acc) v = svadd_f32_x(pc, v, svld1_f32(pc, cr + j * vl));         \
        svst1_f32(pc, cr + j * vl, v);                                       \
    }
#define STORE_ROW(i)                                                         \
    if (i < m) {                                                             \
        float *cr = C + (size_t)i * ldc;                                     \
        STORE_VEC(i, 0) STORE_VEC(i, 1) STORE_VEC(i, 2)                      \
    }

/* One k step at offset o (0 or 1) of the 2x unrolled loop: A[0..7][k] as two replicated
   quadwords, nv vectors of B (ld1w with immediate "mul vl" offsets), 8*nv indexed FMAs. */
#define KSTEP(o)                                                                     \
    {                                                                                \
        svfloat32_t a0 = svld1rq_f32(pt, Ap + 8 * (o));                              \
        svfloat32_t a1 = svld1rq_f32(pt, Ap + 8 * (o) + 4);                          \
        svfloat32_t b0 = svld1_vnum_f32(pt, Bp, nv * (o)), b1 = z, b2 = z;           \
        if (nv > 1) b1 = svld1_vnum_f32(pt, Bp, nv * (o) + 1);                       \
        if (nv > 2) b2 = svld1_vnum_f32(pt, Bp, nv * (o) + 2);                       \
        FMA_ROW(0, a0, 0) FMA_ROW(1, a0, 1) FMA_ROW(2, a0, 2) FMA_ROW(3, a0, 3)      \
        FMA_ROW(4, a1, 0) FMA_ROW(5, a1, 1) FMA_ROW(6, a1, 2) FMA_ROW(7, a1, 3)      \
    }

/* 8 x (nv*VL) micro-kernel, nv = 3, 2 or 1 (a constant after inlining).
   Ap: kc x 8 packed, Bp: kc x nv*VL packed.
   Writes the top-left m x n part of the tile to C (acc != 0: adds to C). */
static inline __attribute__((always_inline))
void ukernel(const int nv, int kc, const float *restrict Ap, const float *restrict Bp,
             float *restrict C, size_t ldc, int m, int n, int acc)
{
    const svbool_t pt = svptrue_b32();
    const int vl = (int)svcntw();
    svfloat32_t z = svdup_n_f32(0.0f);
    svfloat32_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z,
                c22 = z, c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z,
                c51 = z, c52 = z, c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;

    /* k loop unrolled by 2: all loads use immediate offsets, so per 2 steps only two pointer
       adds + loop control are added to the 4 ld1rqw + 6 ld1w + 48 fmla. */
    int k = 0;
    for (; k + 2 <= kc; k += 2) {
        KSTEP(0) KSTEP(1)
        Ap += 2 * MR;
        Bp += 2 * nv * vl;
    }
    if (k < kc) {
        KSTEP(0)
    }

    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3)
    STORE_ROW(4) STORE_ROW(5) STORE_ROW(6) STORE_ROW(7)
}

static void ukernel_3v(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(3, kc, Ap, Bp, C, ldc, m, n, acc); }
static void ukernel_2v(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(2, kc, Ap, Bp, C, ldc, m, n, acc); }
static void ukernel_1v(int kc, const float *Ap, const float *Bp, float *C, size_t ldc, int m, int n, int acc)
{ ukernel(1, kc, Ap, Bp, C, ldc, m, n, acc); }

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    const int vl = (int)svcntw(), nr = NV * vl;
    const int NC = (BUF_B / KC) / nr * nr;          /* >= 3072 - nr + 1 > 0 */
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int acc = pc > 0;                           /* first K chunk overwrites C */
            pack_B(kc, nc, B + (size_t)pc * ldb + jc, (size_t)ldb, packB);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                pack_A(mc, kc, A + (size_t)ic * lda + pc, (size_t)lda, packA);
                for (int jr = 0; jr < nc; jr += nr) {
                    int n = nc - jr < nr ? nc - jr : nr;
                    int nvec = (n + vl - 1) / vl;
                    const float *Bp = packB + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = mc - ir < MR ? mc - ir : MR;
                        const float *Ap = packA + (size_t)ir * kc;
                        float *Ct = C + (size_t)(ic + ir) * ldc + jc + jr;
                        if (nvec == 3)      ukernel_3v(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                        else if (nvec == 2) ukernel_2v(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                        else                ukernel_1v(kc, Ap, Bp, Ct, (size_t)ldc, m, n, acc);
                    }
                }
            }
        }
    }
}
