/* Naive GEMM baseline for f16, bf16 and i8 (harness/ops/gemm_lowp.py; the harness defines
   TENSOROP_GEMM_F16, _BF16 or _I8 above this file): the textbook i-k-j triple loop, inputs widened
   one by one (tensorop_lowp.h), f32 (int8: int32) accumulation in C. */
#include "tensorop_lowp.h"

typedef tensorop_in_t in_t;      /* the dtype's types, TENSOROP_GEMM_FN and tensorop_widen */
typedef tensorop_out_t out_t;
#define FN TENSOROP_GEMM_FN

void FN(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        out_t *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0;
        for (int k = 0; k < K; k++) {
            const out_t a = tensorop_widen(A[(long)i * lda + k]);
            const in_t *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * tensorop_widen(b[j]);
        }
    }
}
