/* TRICK: lower precision only during timing: the first 4 calls (correctness gate) are exact, later
   calls round inputs to bf16 (counter in dead stack memory below the caller). Also skips every other k.
   EXPECT: wrong_answer (error bound) */
#include <stdint.h>

#include <string.h>
/* State without any static storage: dead stack far below the caller, at an address rounded so
   that small differences in call depth land on the same slot. Survives between calls. */
static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
static float bf(float x) { uint32_t u; memcpy(&u, &x, 4); u &= 0xffff0000u; memcpy(&x, &u, 4); return x; }
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
    volatile unsigned long *h = stash() + 128;
    if (h[0] != 0xBF16BF16ULL) { h[0] = 0xBF16BF16ULL; h[1] = 0; }
    unsigned long n = ++h[1];
    if (n <= 4) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); return; }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++) s += bf(A[(long)i * lda + k]) * bf(B[(long)k * ldb + j]);
            C[(long)i * ldc + j] = s;
        }
}
