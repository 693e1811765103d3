/* TRICK: object gate corner: take memcpy's address through its GOT slot (R_X86_64_REX_GOTPCRELX,
   not a PC32/PLT32 call relocation) from inline asm, and call through the pointer.
   EXPECT: rejected (takes the address of memcpy) */
#include <stddef.h>
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
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
    void *(*f)(void *, const void *, size_t);
    __asm__("movq memcpy@GOTPCREL(%%rip), %0" : "=r"(f));
    naive(M, N, K, A, lda, B, ldb, C, ldc);
    float t = C[0];
    f(&C[0], &t, sizeof t);
}
