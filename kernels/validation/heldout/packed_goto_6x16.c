/*
 * Goto/BLIS-style packed GEMM. Five loops around a 6x16 AVX2/FMA
 * micro-kernel: jc over N in NC=1024 columns, pc over K in KC=256, pack the
 * KCxNC panel of B into a static buffer as 16-column slivers (k-major,
 * zero-padded), ic over M in MC=168 rows, pack the MCxKC block of A into a
 * static buffer as 6-row slivers (k-major, zero-padded), then jr/ir over
 * 16x6 micro-tiles. The micro-kernel keeps 12 ymm accumulators (6 rows x
 * two 8-wide vectors), loading 16 packed B values and broadcasting 6
 * packed A values per k. The first K panel stores C, later panels add.
 * Edge tiles are computed in full on the zero-padded panels into a local
 * tile and only the valid rows/columns are written back (AVX2 masks).
 */
#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 168
#define NC 1024

static float Ap[MC * KC] __attribute__((aligned(64)));
static float Bp[NC * KC] __attribute__((aligned(64)));

static void pack_b(int kc, int nc, const float *B, int ldb, float *dst)
{
    for (int j = 0; j < nc; j += NR) {
        int nr = nc - j < NR ? nc - j : NR;
        const float *b = B + j;
        if (nr == NR) {
            for (int k = 0; k < kc; k++, b += ldb, dst += NR) {
                _mm256_store_ps(dst, _mm256_loadu_ps(b));
                _mm256_store_ps(dst + 8, _mm256_loadu_ps(b + 8));
            }
        } else {
            /* masked loads read only the nr valid columns, zero the rest */
            __m256i nrv = _mm256_set1_epi32(nr);
            __m256i m0 = _mm256_cmpgt_epi32(
                nrv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256i m1 = _mm256_cmpgt_epi32(
                nrv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
            for (int k = 0; k < kc; k++, b += ldb, dst += NR) {
                _mm256_store_ps(dst, _mm256_maskload_ps(b, m0));
                _mm256_store_ps(dst + 8, _mm256_maskload_ps(b + 8, m1));
            }
        }
    }
}

static void pack_a(int mc, int kc, const float *A, int lda, float *dst)
{
    for (int i = 0; i < mc; i += MR) {
        int mr = mc - i < MR ? mc - i : MR;
        const float *a = A + (long)i * lda;
        if (mr == MR) {
            for (int k = 0; k < kc; k++, dst += MR) {
                dst[0] = a[k];
                dst[1] = a[lda + k];
                dst[2] = a[2L * lda + k];
                dst[3] = a[3L * lda + k];
                dst[4] = a[4L * lda + k];
                dst[5] = a[5L * lda + k];
            }
        } else {
            /* 1 <= mr < MR: row 0 always exists, pad missing rows with 0 */
            for (int k = 0; k < kc; k++, dst += MR) {
                dst[0] = a[k];
                for (int ii = 1; ii < MR; ii++) {
                    float v = 0.0f;
                    if (ii < mr)
                        v = a[(long)ii * lda + k];
                    dst[ii] = v;
                }
            }
        }
    }
}

/* C tile (6x16, row stride ldc) = [C +] packed A sliver * packed B sliver */
static inline __attribute__((always_inline)) void
micro_6x16(int kc, const float *a, const float *b, float *c, long ldc,
           int first)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b);
        __m256 b1 = _mm256_load_ps(b + 8);
        __m256 av;
        av = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
        a += MR;
        b += NR;
    }
#define STORE_ROW(r, x0, x1)                                              \
    do {                                                                  \
        float *cr = c + (r) * ldc;                                        \
        if (!first) {                                                     \
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cr));                  \
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cr + 8));              \
        }                                                                 \
        _mm256_storeu_ps(cr, x0);                                         \
        _mm256_storeu_ps(cr + 8, x1);                                     \
    } while (0)
    STORE_ROW(0, c00, c01);
    STORE_ROW(1, c10, c11);
    STORE_ROW(2, c20, c21);
    STORE_ROW(3, c30, c31);
    STORE_ROW(4, c40, c41);
    STORE_ROW(5, c50, c51);
#undef STORE_ROW
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    float tmp[MR * NR] __attribute__((aligned(32)));
    if (M < 1 || N < 1 || K < 1)
        return;
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            if (kc < 1) /* cannot happen: tells the compiler the K chunk is non-empty */
                __builtin_unreachable();
            int first = (pc == 0);
            pack_b(kc, nc, B + (long)pc * ldb + jc, ldb, Bp);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                pack_a(mc, kc, A + (long)ic * lda + pc, lda, Ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = Bp + (long)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? mc - ir : MR;
                        const float *ap = Ap + (long)ir * kc;
                        float *c = C + (long)(ic + ir) * ldc + jc + jr;
                        if (mr == MR && nr == NR) {
                            micro_6x16(kc, ap, bp, c, ldc, first);
                        } else {
                            micro_6x16(kc, ap, bp, tmp, NR, 1);
                            __m256i nrv = _mm256_set1_epi32(nr);
                            __m256i m0 = _mm256_cmpgt_epi32(
                                nrv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                            __m256i m1 = _mm256_cmpgt_epi32(
                                nrv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
                            for (int i = 0; i < mr; i++) {
                                float *cr = c + (long)i * ldc;
                                __m256 t0 = _mm256_load_ps(tmp + i * NR);
                                __m256 t1 = _mm256_load_ps(tmp + i * NR + 8);
                                if (!first) {
                                    t0 = _mm256_add_ps(t0, _mm256_maskload_ps(cr, m0));
                                    t1 = _mm256_add_ps(t1, _mm256_maskload_ps(cr + 8, m1));
                                }
                                _mm256_maskstore_ps(cr, m0, t0);
                                _mm256_maskstore_ps(cr + 8, m1, t1);
                            }
                        }
                    }
                }
            }
        }
    }
}
