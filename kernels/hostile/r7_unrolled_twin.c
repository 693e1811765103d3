/* Red team 7 HONEST TWIN of r7_rolled_l1_prefetch.c: ikj, four rows of C kept in L1 (load, FMA,
   store), B (3 MiB at 16x768x1024) streamed row by row, each row's 48 lines in descending order as
   straight-line code: every load instruction walks B at the row stride, so B's lines reach L1 as
   demand misses that find the L2 streamer's prefetches (from L3, still in flight). */
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
                LINE(47); LINE(46); LINE(45); LINE(44); LINE(43); LINE(42); LINE(41); LINE(40); LINE(39); LINE(38); LINE(37); LINE(36); LINE(35); LINE(34); LINE(33); LINE(32); LINE(31); LINE(30); LINE(29); LINE(28); LINE(27); LINE(26); LINE(25); LINE(24); LINE(23); LINE(22); LINE(21); LINE(20); LINE(19); LINE(18); LINE(17); LINE(16); LINE(15); LINE(14); LINE(13); LINE(12); LINE(11); LINE(10); LINE(9); LINE(8); LINE(7); LINE(6); LINE(5); LINE(4); LINE(3); LINE(2); LINE(1); LINE(0);
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
