/* TRICK (round 3, state across calls): a memo in static storage keyed on the pointers, the sizes
   and 8 sampled elements of A and B; on a hit it returns the stored C without computing. Fresh
   inputs in every timed call defeat it (so it measured at its honest speed and was verified `ok`),
   but a user's program that changes only unsampled elements between two calls on the same buffers
   gets stale results. The reuse check (the same buffers again, a few elements changed at positions
   drawn after the first call, the previous result left in C) catches it.
   EXPECT: wrong_answer (a second call on the same buffers) */
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
static struct { const float *A, *B; float *C; int M, N, K, lda, ldb, ldc; float a[8], b[8]; int valid; } memo;
static float stash[1 << 20];
static void sample(const float *X, int rows, int cols, int ld, float out[8])
{
    for (int s = 0; s < 8; s++)
        out[s] = X[(long)((s * 7919L) % rows) * ld + (s * 104729L) % cols];
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    float a[8], b[8];
    sample(A, M, K, lda, a);
    sample(B, K, N, ldb, b);
    long size = (long)M * ldc;
    if (memo.valid && memo.A == A && memo.B == B && memo.C == C && memo.M == M && memo.N == N && memo.K == K &&
        memo.lda == lda && memo.ldb == ldb && memo.ldc == ldc && !memcmp(memo.a, a, sizeof a) &&
        !memcmp(memo.b, b, sizeof b) && size <= (long)(sizeof stash / sizeof stash[0])) {
        memcpy(C, stash, (size_t)size * sizeof(float));
        return;
    }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (size <= (long)(sizeof stash / sizeof stash[0])) {
        memcpy(stash, C, (size_t)size * sizeof(float));
        memo.A = A; memo.B = B; memo.C = C; memo.M = M; memo.N = N; memo.K = K;
        memo.lda = lda; memo.ldb = ldb; memo.ldc = ldc;
        memcpy(memo.a, a, sizeof a);
        memcpy(memo.b, b, sizeof b);
        memo.valid = 1;
    }
}
