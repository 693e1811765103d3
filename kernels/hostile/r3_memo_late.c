/* TRICK (round 3, state that starts late): the sampled memo of r3_memo_sampled.c, switched on only
   for buffers the kernel has seen three times, so a check run (each case's buffers called twice:
   the call and its reuse check) never sees it. A timing run cycles through a few buffer sets many
   times: the reuse check after its timed samples catches it there. Under QEMU a profiled run makes
   one call: there the memo never switches on and the kernel is honest.
   EXPECT host: wrong_answer (the reuse check after the timed samples);
   EXPECT rv64-qemu, arm64-qemu: ok at its honest speed */
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
static struct { const float *A, *B; float *C; int M, N, K; float a[8], b[8]; int valid; } memo;
static float stash[1 << 20];
static struct { const void *A, *B, *C; int seen; } met[64];
static int seen(const void *A, const void *B, const void *C)
{
    for (int i = 0; i < 64; i++) {
        if (met[i].seen && met[i].A == A && met[i].B == B && met[i].C == C) return ++met[i].seen;
        if (!met[i].seen) { met[i].A = A; met[i].B = B; met[i].C = C; return met[i].seen = 1; }
    }
    return 0;
}
static void sample(const float *X, int rows, int cols, int ld, float out[8])
{
    for (int s = 0; s < 8; s++)
        out[s] = X[(long)((s * 7919L) % rows) * ld + (s * 104729L) % cols];
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    float a[8], b[8];
    long size = (long)M * ldc;
    int on = seen(A, B, C) >= 3 && size <= (long)(sizeof stash / sizeof stash[0]);
    if (on) {
        sample(A, M, K, lda, a);
        sample(B, K, N, ldb, b);
        if (memo.valid && memo.A == A && memo.B == B && memo.C == C && memo.M == M && memo.N == N && memo.K == K &&
            !memcmp(memo.a, a, sizeof a) && !memcmp(memo.b, b, sizeof b)) {
            memcpy(C, stash, (size_t)size * sizeof(float));
            return;
        }
    }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (on) {
        memcpy(stash, C, (size_t)size * sizeof(float));
        memo.A = A; memo.B = B; memo.C = C; memo.M = M; memo.N = N; memo.K = K;
        memcpy(memo.a, a, sizeof a);
        memcpy(memo.b, b, sizeof b);
        memo.valid = 1;
    }
}
