/* Validation set, cache-blocked without packing: K is cut in blocks of 256 and N in blocks of
   512 (a KC x NC block of B, 512 KiB, stays in L2), and a 4x16 AVX2 register tile reads A and B
   straight from the inputs (B rows stride ldb, so the tile's B accesses touch one line per k). */
#include <immintrin.h>

#define KC 256
#define NC 512

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(long)i * ldc + j] = 0.0f;
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int i = 0;
            for (; i + 4 <= M; i += 4) {
                int j = jc;
                for (; j + 16 <= jc + nc; j += 16) {
                    float *c = C + (long)i * ldc + j;
                    __m256 c00 = _mm256_loadu_ps(c), c01 = _mm256_loadu_ps(c + 8);
                    __m256 c10 = _mm256_loadu_ps(c + ldc), c11 = _mm256_loadu_ps(c + ldc + 8);
                    __m256 c20 = _mm256_loadu_ps(c + 2L * ldc), c21 = _mm256_loadu_ps(c + 2L * ldc + 8);
                    __m256 c30 = _mm256_loadu_ps(c + 3L * ldc), c31 = _mm256_loadu_ps(c + 3L * ldc + 8);
                    const float *a = A + (long)i * lda;
                    for (int k = pc; k < pc + kc; k++) {
                        const float *b = B + (long)k * ldb + j;
                        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), av;
                        av = _mm256_broadcast_ss(a + k);
                        c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
                        av = _mm256_broadcast_ss(a + lda + k);
                        c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
                        av = _mm256_broadcast_ss(a + 2L * lda + k);
                        c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
                        av = _mm256_broadcast_ss(a + 3L * lda + k);
                        c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
                    }
                    _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
                    _mm256_storeu_ps(c + ldc, c10); _mm256_storeu_ps(c + ldc + 8, c11);
                    _mm256_storeu_ps(c + 2L * ldc, c20); _mm256_storeu_ps(c + 2L * ldc + 8, c21);
                    _mm256_storeu_ps(c + 3L * ldc, c30); _mm256_storeu_ps(c + 3L * ldc + 8, c31);
                }
                for (; j < jc + nc; j++)
                    for (int r = 0; r < 4; r++) {
                        float s = C[(long)(i + r) * ldc + j];
                        for (int k = pc; k < pc + kc; k++)
                            s += A[(long)(i + r) * lda + k] * B[(long)k * ldb + j];
                        C[(long)(i + r) * ldc + j] = s;
                    }
            }
            for (; i < M; i++)
                for (int j = jc; j < jc + nc; j++) {
                    float s = C[(long)i * ldc + j];
                    for (int k = pc; k < pc + kc; k++)
                        s += A[(long)i * lda + k] * B[(long)k * ldb + j];
                    C[(long)i * ldc + j] = s;
                }
        }
    }
}
