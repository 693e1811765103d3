/* Naive batched GEMM f32 baseline: the i-k-j triple loop per matrix of the batch. */
void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC)
{
    for (int b = 0; b < batch; b++) {
        const float *Ab = A + b * strideA, *Bb = B + b * strideB;
        float *Cb = C + b * strideC;
        for (int i = 0; i < M; i++) {
            float *c = Cb + (long)i * ldc;
            for (int j = 0; j < N; j++) c[j] = 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = Ab[(long)i * lda + k];
                const float *r = Bb + (long)k * ldb;
                for (int j = 0; j < N; j++) c[j] += a * r[j];
            }
        }
    }
}
