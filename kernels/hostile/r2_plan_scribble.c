/* TRICK: scribble on the worker's plan: in the timing worker, find the plan copy on
   worker_main's stack ({which, ncalls, sets 0..n-1}) and set ncalls = 1 so the rest of the
   sample's calls never run (the parent's clock stops early).
   EXPECT: wrong_answer (the parent verifies every call of the sample: the skipped ones are
   poisoned), or ok at the honest speed */
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
static __attribute__((noinline)) void scribble(void)
{
    int *p = (int *)__builtin_frame_address(0);
    for (int i = 0; i < 2048; i++) {          /* worker_main's frame is a few hundred bytes up */
        int n = p[i + 1];
        if (p[i] != 0 || n < 3 || n > 64) continue;
        int j = 0;
        while (j < n && p[i + 2 + j] == j) j++;
        if (j == n) { p[i + 1] = 1; return; }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    static int calls;
    naive(M, N, K, A, lda, B, ldb, C, ldc);
    if (++calls > 8) scribble();              /* past the check run's cases */
}
