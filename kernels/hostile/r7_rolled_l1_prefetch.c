/* Red team 7 ATTACK, an OPEN FINDING (kernels/hostile/README.md): r7_unrolled_twin.c with the 48-line chunk
   as a rolled loop (one line per iteration, downward). Each load instruction then walks B 64 bytes
   at a time, so the L1 stride prefetcher fetches the next (lower) line into L1 from L2, where the
   streamer's prefetch put it, still on its way from L3. The model times that copy from the L1
   prefetch with L2 as its origin: 30% cheaper than the twin, which the host runs 1.29x faster. */
#include <immintrin.h>
static void edge(int i0, int i1, int j0, int j1, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}
#define LINE(l) do { const float *b_ = b + 16 * (l); float *d_ = c + 16 * (l); \
    __m256 b0 = _mm256_loadu_ps(b_), b1 = _mm256_loadu_ps(b_ + 8); \
    _mm256_storeu_ps(d_, _mm256_fmadd_ps(x0, b0, _mm256_loadu_ps(d_))); \
    _mm256_storeu_ps(d_ + 8, _mm256_fmadd_ps(x0, b1, _mm256_loadu_ps(d_ + 8))); d_ += ldc; \
    _mm256_storeu_ps(d_, _mm256_fmadd_ps(x1, b0, _mm256_loadu_ps(d_))); \
    _mm256_storeu_ps(d_ + 8, _mm256_fmadd_ps(x1, b1, _mm256_loadu_ps(d_ + 8))); d_ += ldc; \
    _mm256_storeu_ps(d_, _mm256_fmadd_ps(x2, b0, _mm256_loadu_ps(d_))); \
    _mm256_storeu_ps(d_ + 8, _mm256_fmadd_ps(x2, b1, _mm256_loadu_ps(d_ + 8))); d_ += ldc; \
    _mm256_storeu_ps(d_, _mm256_fmadd_ps(x3, b0, _mm256_loadu_ps(d_))); \
    _mm256_storeu_ps(d_ + 8, _mm256_fmadd_ps(x3, b1, _mm256_loadu_ps(d_ + 8))); } while (0)
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int M4 = M & ~3, N16 = N & ~15, J48 = N16 - N16 % 768;
    for (int i = 0; i < M4; i += 4) {
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < N16; j++) C[(long)(i + r) * ldc + j] = 0.0f;
        const float *a = A + (long)i * lda;
        for (int k = 0; k < K; k++) {
            const __m256 x0 = _mm256_broadcast_ss(a + k), x1 = _mm256_broadcast_ss(a + lda + k);
            const __m256 x2 = _mm256_broadcast_ss(a + 2 * lda + k), x3 = _mm256_broadcast_ss(a + 3 * lda + k);
            const float *brow = B + (long)k * ldb;
            for (int j = 0; j < J48; j += 768) {
                const float *b = brow + j; float *c = C + (long)i * ldc + j;
                
#pragma clang loop unroll(disable)
                for (int l = 47; l >= 0; l--) LINE(l);
            }
            for (int j = J48; j < N16; j += 16) {
                const float *b = brow + j; float *c = C + (long)i * ldc + j;
                LINE(0);
            }
        }
    }
    edge(0, M4, N16, N, K, A, lda, B, ldb, C, ldc);
    edge(M4, M, 0, N, K, A, lda, B, ldb, C, ldc);
}
