/* Red team 6 ATTACK, an OPEN FINDING (kernels/hostile/README.md): the twin plus, per k step, a
   rolled 2-trip loop of one scalar load touching B[k][j] and B[k][j+h], the lines the 256-bit loads
   read right after. One load instruction then walks B at a constant stride of h*4 bytes (1.5 KiB at
   N=768), within the model's 2 KiB IP-stride limit (the row stride, 3 KiB, is not): the detector
   prefetches each next touch about five instructions early, and the model charges such a line no
   latency (it counts no prefetch as late) and, with l1pf=0, keeps it out of L2. On this host the
   pair runs 0.98-1.06x apart; modelled, the touch halves the cycles. */
#include <immintrin.h>
#define TOUCH(p) do { int t_; __asm__ volatile("movl %1, %0" : "=r"(t_) : "m"(*(const int *)(p))); } while (0)
static void edge(int i0, int i1, int j0, int j1, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int h = (N / 2) & ~15, M2 = M & ~1;
    long hb = (long)h * sizeof(float);
    for (int i = 0; i < M2; i += 2) {
        const float *a0 = A + (long)i * lda, *a1 = a0 + lda;
        for (int j = 0; j < h; j += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
            __m256 d00 = c00, d01 = c00, d10 = c00, d11 = c00;
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) {
                /* touch both tiles' B lines first (one load instruction, a rolled loop) */
                const char *t = (const char *)b;
#pragma clang loop unroll(disable)
                for (int p = 0; p < 2; p++, t += hb) TOUCH(t);
                __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
                __m256 e0 = _mm256_loadu_ps(b + h), e1 = _mm256_loadu_ps(b + h + 8), a;
                a = _mm256_broadcast_ss(a0 + k);
                c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
                d00 = _mm256_fmadd_ps(a, e0, d00); d01 = _mm256_fmadd_ps(a, e1, d01);
                a = _mm256_broadcast_ss(a1 + k);
                c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
                d10 = _mm256_fmadd_ps(a, e0, d10); d11 = _mm256_fmadd_ps(a, e1, d11);
            }
            float *c = C + (long)i * ldc + j;
            _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
            _mm256_storeu_ps(c + h, d00); _mm256_storeu_ps(c + h + 8, d01);
            c += ldc;
            _mm256_storeu_ps(c, c10); _mm256_storeu_ps(c + 8, c11);
            _mm256_storeu_ps(c + h, d10); _mm256_storeu_ps(c + h + 8, d11);
        }
        edge(i, i + 2, 2 * h, N, K, A, lda, B, ldb, C, ldc);
    }
    edge(M2, M, 0, N, K, A, lda, B, ldb, C, ldc);
}
