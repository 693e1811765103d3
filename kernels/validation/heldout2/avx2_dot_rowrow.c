/* AVX2/FMA SGEMM as row-by-row dot products.  A block of B (up to 1024 rows of
 * K by 1024 columns of N) is first copied transposed into a static buffer, so
 * that column j of B becomes a contiguous row.  Each C element is then the dot
 * product of a row of A with a row of the transposed block, computed with two
 * 8-wide FMA accumulators (16 floats per step), an 8-wide step, and a scalar
 * tail for the last K % 8 elements, followed by a horizontal sum.  Loop order:
 * N block, K block (transpose), i, j.  The first K block writes C, later
 * blocks add to it. */

#include <immintrin.h>

#define NBLK 1024
#define KBLK 1024

static float Bt[NBLK * KBLK];

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((no_builtin("memset", "memcpy")))
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int jj = 0; jj < N; jj += NBLK) {
        int nb = N - jj < NBLK ? N - jj : NBLK;
        for (int kk = 0; kk < K; kk += KBLK) {
            int kb = K - kk < KBLK ? K - kk : KBLK;

            /* transpose B[kk:kk+kb, jj:jj+nb] into Bt[j*kb + k] */
            for (int k = 0; k < kb; k++) {
                const float *b = B + (long)(kk + k) * ldb + jj;
                for (int j = 0; j < nb; j++)
                    Bt[(long)j * kb + k] = b[j];
            }

            for (int i = 0; i < M; i++) {
                const float *a = A + (long)i * lda + kk;
                float *c = C + (long)i * ldc + jj;
                for (int j = 0; j < nb; j++) {
                    const float *bt = Bt + (long)j * kb;
                    __m256 s0 = _mm256_setzero_ps();
                    __m256 s1 = _mm256_setzero_ps();
                    int k = 0;
                    for (; k + 16 <= kb; k += 16) {
                        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k),
                                             _mm256_loadu_ps(bt + k), s0);
                        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8),
                                             _mm256_loadu_ps(bt + k + 8), s1);
                    }
                    if (k + 8 <= kb) {
                        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k),
                                             _mm256_loadu_ps(bt + k), s0);
                        k += 8;
                    }
                    float s = hsum(_mm256_add_ps(s0, s1));
                    for (; k < kb; k++)
                        s += a[k] * bt[k];
                    c[j] = (kk == 0) ? s : c[j] + s;
                }
            }
        }
    }
}
