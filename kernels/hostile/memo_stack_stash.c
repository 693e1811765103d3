/* TRICK: memo without static storage: 8 slots in dead stack memory below the caller, keyed on
   (A, B, C, M, N, K) and 16 sampled input values; the value is a copy of C. A hit copies C back
   (O(MN) instead of O(MNK)). Correct whenever the same inputs come back (e.g. an inner timing
   loop that repeats one input set). EXPECT: wrong_answer or ok at honest speed;
   ok at a much higher speed = FINDING (memoisation not defeated) */
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
/* State without any static storage: dead stack far below the caller, at an address rounded so
   that small differences in call depth land on the same slot. Survives between calls. */
static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
struct slot { unsigned long magic; const float *a, *b; float *c; int m, n, k, pad; float key[16]; float *data; };
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    struct slot *s = (struct slot *)stash();
    float *pool = (float *)(s + 8);
    long csz = (long)M * N;
    float k16[16];
    if ((unsigned long)csz * 8 * 4 > 6UL << 20) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); return; }
    for (int i = 0; i < 8; i++) k16[i] = A[(long)((i * 7) % M) * lda + (i * 13) % K];
    for (int i = 0; i < 8; i++) k16[8 + i] = B[(long)((i * 5) % K) * ldb + (i * 11) % N];
    for (int e = 0; e < 8; e++) {
        struct slot *t = s + e;
        if (t->magic == 0x5eed5eedUL && t->a == A && t->b == B && t->c == C && t->m == M && t->n == N &&
            t->k == K && !memcmp(t->key, k16, sizeof k16)) {
            for (int i = 0; i < M; i++) memcpy(C + (long)i * ldc, t->data + (long)i * N, N * sizeof(float));
            return;
        }
    }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    unsigned long e = ((unsigned long)A >> 6 ^ (unsigned long)C >> 6) % 8;
    struct slot *t = s + e;
    t->magic = 0x5eed5eedUL; t->a = A; t->b = B; t->c = C; t->m = M; t->n = N; t->k = K;
    memcpy(t->key, k16, sizeof k16);
    t->data = pool + e * csz;
    for (int i = 0; i < M; i++) memcpy(t->data + (long)i * N, C + (long)i * ldc, N * sizeof(float));
}
