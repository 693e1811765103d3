/*
 * AVX2/FMA GEMM, one row of C at a time. The row is split into strips of
 * 32 columns (four 8-wide ymm accumulators); for each strip the kernel
 * loops over all of K, broadcasting A[i][k] and FMA-ing it with the
 * matching 32 floats of row k of B. Leftover columns use single 8-wide
 * strips and finally a masked (maskload/maskstore) 8-wide strip.
 * B is re-streamed from memory for every row of C: no cache blocking,
 * no packing, A and B are read directly.
 */
#include <immintrin.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    if (M < 1 || N < 1 || K < 1)
        return;
    for (int i = 0; i < M; i++) {
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        int j = 0;
        for (; j + 32 <= N; j += 32) {
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
            __m256 c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) {
                __m256 av = _mm256_broadcast_ss(a + k);
                c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), c0);
                c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), c1);
                c2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 16), c2);
                c3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 24), c3);
            }
            _mm256_storeu_ps(c + j, c0);
            _mm256_storeu_ps(c + j + 8, c1);
            _mm256_storeu_ps(c + j + 16, c2);
            _mm256_storeu_ps(c + j + 24, c3);
        }
        for (; j + 8 <= N; j += 8) {
            __m256 c0 = _mm256_setzero_ps();
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb)
                c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k),
                                     _mm256_loadu_ps(b), c0);
            _mm256_storeu_ps(c + j, c0);
        }
        if (j < N) {
            int rem = N - j;
            __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), idx);
            __m256 c0 = _mm256_setzero_ps();
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb)
                c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k),
                                     _mm256_maskload_ps(b, mask), c0);
            _mm256_maskstore_ps(c + j, mask, c0);
        }
    }
}
