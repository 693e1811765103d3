/*
 * Scalar GEMM in i-k-j order with the k loop unrolled by 4: for each row i
 * of C, four A elements A[i][k..k+3] are held in scalars and the innermost
 * j loop adds a0*B[k][j] + ... + a3*B[k+3][j] into C[i][j], streaming four
 * rows of B and one row of C contiguously.
 * The first k step writes C[i][j] instead of adding (so C is never
 * zeroed separately); a k remainder (K % 4) is handled one row of B at a
 * time.
 * No cache blocking, no packing; the compiler may auto-vectorise the j loop.
 */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        const float *a = A + (long)i * lda;
        int k = 0;
        if (K >= 4) {
            float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
            const float *b0 = B;
            const float *b1 = b0 + ldb;
            const float *b2 = b1 + ldb;
            const float *b3 = b2 + ldb;
            for (int j = 0; j < N; j++)
                c[j] = a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
            k = 4;
        } else {
            float a0 = a[0];
            for (int j = 0; j < N; j++)
                c[j] = a0 * B[j];
            k = 1;
        }
        for (; k + 4 <= K; k += 4) {
            float a0 = a[k], a1 = a[k + 1], a2 = a[k + 2], a3 = a[k + 3];
            const float *b0 = B + (long)k * ldb;
            const float *b1 = b0 + ldb;
            const float *b2 = b1 + ldb;
            const float *b3 = b2 + ldb;
            for (int j = 0; j < N; j++)
                c[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
        }
        for (; k < K; k++) {
            float a0 = a[k];
            const float *b0 = B + (long)k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a0 * b0[j];
        }
    }
}
