/* TRICK: call the driver's QEMU instruction-count markers to close the counted region early
   (end before the work, begin again after), so the modelled cycles count almost nothing.
   EXPECT: rejected (undefined symbol not allowed) or link_error */
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
void tensorop_region_begin(void);
void tensorop_region_end(void);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    tensorop_region_end();
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    tensorop_region_begin();
}
