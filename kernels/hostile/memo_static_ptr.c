/* TRICK: memoise on the (A,B,C) pointers with function-local statics (no global symbol, only a
   local .bss object): remember the last 16 pointer triples; when a rotating buffer set comes back
   around, assume the same inputs (and C still holding its result) and return at once.
   EXPECT: rejected (static data) or wrong_answer (fresh inputs per sample) */
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
    static const float *la[16], *lb[16]; static float *lc[16]; static int dims[16][3], next;
    for (int e = 0; e < 16; e++)
        if (A == la[e] && B == lb[e] && C == lc[e] && dims[e][0] == M && dims[e][1] == N && dims[e][2] == K) return;
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    la[next] = A; lb[next] = B; lc[next] = C; dims[next][0] = M; dims[next][1] = N; dims[next][2] = K;
    next = (next + 1) % 16;
}
