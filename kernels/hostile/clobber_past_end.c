/* TRICK: state hidden in the inputs but OUTSIDE the declared matrices: a marker with a fingerprint
   of A is written one row past the end of B (B[K*ldb .. +3]) -- memory nobody declared, which an
   unchanged-inputs check over the MxK / KxN regions does not see. Same fingerprint -> skip.
   EXPECT: wrong_answer (fresh inputs) or crash (guard page); ok+fast = FINDING */
#include <stdint.h>
#include <string.h>
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int rows)
{
    for (int i = 0; i < rows; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    uint32_t *tag = (uint32_t *)(B + (long)K * ldb), fp[3];
    memcpy(&fp[0], A, 4); memcpy(&fp[1], A + (long)(M - 1) * lda + K - 1, 4); memcpy(&fp[2], B + 1, 4);
    if (tag[0] == 0xfeedface && tag[1] == fp[0] && tag[2] == fp[1] && tag[3] == fp[2]) return;
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    tag[0] = 0xfeedface; tag[1] = fp[0]; tag[2] = fp[1]; tag[3] = fp[2];
}
