/* Naive GEMM baseline for f16, bf16 and i8 (harness/ops/gemm_lowp.py; the harness defines
   TENSOROP_GEMM_F16, _BF16 or _I8 above this file): the textbook i-k-j triple loop, inputs widened
   one by one (tensorop_lowp.h), f32 (int8: int32) accumulation in C. */
#include "tensorop_lowp.h"

#if defined(TENSOROP_GEMM_I8)
typedef int8_t in_t;
typedef int32_t out_t;
#define FN tensorop_gemm_i8
#define WIDEN(x) ((int32_t)(x))
#else
typedef uint16_t in_t;
typedef float out_t;
#if defined(TENSOROP_GEMM_BF16)
#define FN tensorop_gemm_bf16
#define WIDEN(x) tensorop_bf16_to_f32(x)
#else
#define FN tensorop_gemm_f16
#define WIDEN(x) tensorop_f16_to_f32(x)
#endif
#endif

void FN(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        out_t *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0;
        for (int k = 0; k < K; k++) {
            const out_t a = WIDEN(A[(long)i * lda + k]);
            const in_t *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * WIDEN(b[j]);
        }
    }
}
