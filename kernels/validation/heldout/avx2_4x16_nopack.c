/*
 * AVX2/FMA GEMM with a 4x16 register tile (8 ymm accumulators: 4 rows x
 * two 8-wide vectors) read straight from the input matrices, no packing.
 * Loop order: N blocked by NB=256 columns, K blocked by KB=256 (so the
 * KBxNB block of B being reused is L2-sized), then 4-row x 16-column tiles
 * of C over the block; inside a tile the k loop loads 16 floats of row k of
 * B and broadcasts A[i+r][k] for the 4 rows. The first K block stores the
 * tile, later K blocks load-add-store it. Edge tiles (fewer than 4 rows or
 * 16 columns) reuse the same kernel with a row count and AVX2 column masks.
 */
#include <immintrin.h>

#define NB 256
#define KB 256

static inline __attribute__((always_inline)) void
tile(int mr, int nr, int kc, int first, const float *A, int lda,
     const float *B, int ldb, float *C, int ldc)
{
    __m256i idx0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i idx1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    __m256i nrv = _mm256_set1_epi32(nr);
    __m256i m0 = _mm256_cmpgt_epi32(nrv, idx0);
    __m256i m1 = _mm256_cmpgt_epi32(nrv, idx1);
    __m256 acc[4][2];
    for (int r = 0; r < 4; r++) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
    }
    const float *b = B;
    for (int k = 0; k < kc; k++, b += ldb) {
        __m256 b0, b1;
        if (nr == 16) {
            b0 = _mm256_loadu_ps(b);
            b1 = _mm256_loadu_ps(b + 8);
        } else {
            b0 = _mm256_maskload_ps(b, m0);
            b1 = _mm256_maskload_ps(b + 8, m1);
        }
        for (int r = 0; r < 4; r++) {
            if (r < mr) {
                __m256 a = _mm256_broadcast_ss(A + (long)r * lda + k);
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        if (r >= mr)
            break;
        float *c = C + (long)r * ldc;
        if (nr == 16) {
            if (!first) {
                acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(c));
                acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(c + 8));
            }
            _mm256_storeu_ps(c, acc[r][0]);
            _mm256_storeu_ps(c + 8, acc[r][1]);
        } else {
            if (!first) {
                acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_maskload_ps(c, m0));
                acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_maskload_ps(c + 8, m1));
            }
            _mm256_maskstore_ps(c, m0, acc[r][0]);
            _mm256_maskstore_ps(c + 8, m1, acc[r][1]);
        }
    }
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int jc = 0; jc < N; jc += NB) {
        int nb = N - jc < NB ? N - jc : NB;
        for (int pc = 0; pc < K; pc += KB) {
            int kb = K - pc < KB ? K - pc : KB;
            int first = (pc == 0);
            for (int i = 0; i < M; i += 4) {
                int mr = M - i < 4 ? M - i : 4;
                const float *a = A + (long)i * lda + pc;
                for (int j = 0; j < nb; j += 16) {
                    int nr = nb - j < 16 ? nb - j : 16;
                    const float *b = B + (long)pc * ldb + jc + j;
                    float *c = C + (long)i * ldc + jc + j;
                    if (mr == 4 && nr == 16)
                        tile(4, 16, kb, first, a, lda, b, ldb, c, ldc);
                    else
                        tile(mr, nr, kb, first, a, lda, b, ldb, c, ldc);
                }
            }
        }
    }
}
