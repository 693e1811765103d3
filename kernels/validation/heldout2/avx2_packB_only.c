/* AVX2/FMA SGEMM that packs only B.  For each NC x KC panel of B (NC = 256,
 * KC = 256) the panel is copied into a static buffer as 16-column strips, each
 * strip stored k-major (16 contiguous floats per k), with zero padding past the
 * last column.  A 4x16 micro-kernel (4 rows x two 8-wide vectors = 8 __m256
 * accumulators) then runs over every 4-row group of C and every strip, reading
 * the A values straight from the input matrix (broadcast, no A packing).  Loop
 * order: N panel, K panel (pack), i in steps of 4, strip, k.  The first K panel
 * writes C, later panels add to it; edge rows use fewer rows and edge columns
 * are written through masked stores. */

#include <immintrin.h>

#define KC 256
#define NC 256
#define NR 16
#define MR 4

static float Bp[KC * NC];

static inline __m256i col_mask(int n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

__attribute__((no_builtin("memset", "memcpy")))
static void pack_B(int kc, int nc, const float *B, int ldb)
{
    for (int js = 0; js < nc; js += NR) {
        int w = nc - js < NR ? nc - js : NR;
        float *dst = Bp + (long)js * kc;
        for (int k = 0; k < kc; k++) {
            const float *src = B + (long)k * ldb + js;
            float *d = dst + k * NR;
            int j = 0;
            for (; j < w; j++)
                d[j] = src[j];
            for (; j < NR; j++)
                d[j] = 0.0f;
        }
    }
}

static inline void kernel4x16(int mr, int nr, int kc, const float *A, int lda,
                              const float *bp, float *C, int ldc, int first)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    /* rows beyond mr reuse row 0 of A; their results are discarded */
    const float *a0 = A;
    const float *a1 = mr > 1 ? A + 1L * lda : A;
    const float *a2 = mr > 2 ? A + 2L * lda : A;
    const float *a3 = mr > 3 ? A + 3L * lda : A;
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(bp + k * NR);
        __m256 b1 = _mm256_loadu_ps(bp + k * NR + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    }
    __m256 r0[4] = {c00, c10, c20, c30};
    __m256 r1[4] = {c01, c11, c21, c31};
    if (nr == NR) {
        for (int r = 0; r < mr; r++) {
            float *c = C + (long)r * ldc;
            if (!first) {
                r0[r] = _mm256_add_ps(r0[r], _mm256_loadu_ps(c));
                r1[r] = _mm256_add_ps(r1[r], _mm256_loadu_ps(c + 8));
            }
            _mm256_storeu_ps(c, r0[r]);
            _mm256_storeu_ps(c + 8, r1[r]);
        }
    } else {
        __m256i m0 = col_mask(nr);
        __m256i m1 = col_mask(nr - 8);
        for (int r = 0; r < mr; r++) {
            float *c = C + (long)r * ldc;
            if (!first) {
                r0[r] = _mm256_add_ps(r0[r], _mm256_maskload_ps(c, m0));
                r1[r] = _mm256_add_ps(r1[r], _mm256_maskload_ps(c + 8, m1));
            }
            _mm256_maskstore_ps(c, m0, r0[r]);
            _mm256_maskstore_ps(c + 8, m1, r1[r]);
        }
    }
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int first = (pc == 0);
            pack_B(kc, nc, B + (long)pc * ldb + jc, ldb);
            for (int i = 0; i < M; i += MR) {
                int mr = M - i < MR ? M - i : MR;
                for (int js = 0; js < nc; js += NR) {
                    int nr = nc - js < NR ? nc - js : NR;
                    kernel4x16(mr, nr, kc, A + (long)i * lda + pc, lda,
                               Bp + (long)js * kc,
                               C + (long)i * ldc + jc + js, ldc, first);
                }
            }
        }
    }
}
