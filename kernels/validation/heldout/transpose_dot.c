/*
 * Transpose-then-dot GEMM. B (KxN, row-major) is copied transposed into a
 * static buffer BT so that every column of B becomes a contiguous row; each
 * C[i][j] is then a dot product of two contiguous vectors, row i of A and
 * row j of BT, computed with AVX2/FMA (two 8-wide accumulators, horizontal
 * sum, scalar tail). The transpose is done once per call when B fits the
 * 1024x1024 buffer; larger B is processed in 1024x1024 tiles (K tiles
 * accumulate into C). Loop order inside a tile: i, then j, then the dot
 * over k. No cache blocking of A/C beyond the B tiling.
 */
#include <immintrin.h>

#define TK 1024
#define TN 1024

static float BT[TN * TK];

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 0x55));
    return _mm_cvtss_f32(lo);
}

static float dot(const float *x, const float *y, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), s1);
    }
    if (k + 8 <= n) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
        k += 8;
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += x[k] * y[k];
    return s;
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    if (M < 1 || N < 1 || K < 1)
        return;
    for (int kc = 0; kc < K; kc += TK) {
        int kb = K - kc < TK ? K - kc : TK;
        if (kb < 1) /* cannot happen: tells the compiler the K chunk is non-empty */
            __builtin_unreachable();
        for (int jc = 0; jc < N; jc += TN) {
            int nb = N - jc < TN ? N - jc : TN;
            /* transpose the kb x nb block of B into BT (nb rows of length kb) */
            for (int k = 0; k < kb; k++) {
                const float *b = B + (long)(kc + k) * ldb + jc;
                for (int j = 0; j < nb; j++)
                    BT[(long)j * kb + k] = b[j];
            }
            for (int i = 0; i < M; i++) {
                const float *a = A + (long)i * lda + kc;
                float *c = C + (long)i * ldc + jc;
                if (kc == 0)
                    for (int j = 0; j < nb; j++)
                        c[j] = dot(a, BT + (long)j * kb, kb);
                else
                    for (int j = 0; j < nb; j++)
                        c[j] += dot(a, BT + (long)j * kb, kb);
            }
        }
    }
}
