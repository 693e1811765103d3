/*
 * Plain scalar GEMM, loop order j-k-i (column-oriented, as a Fortran
 * programmer would write it). For each column j of C the column is zeroed,
 * then for each k the scalar B[k][j] is multiplied into column k of A and
 * added to column j of C. The innermost loop walks down columns of A and C,
 * i.e. with strides lda and ldc through the row-major arrays.
 * No blocking, no packing, no explicit vectorisation.
 */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++)
            C[(long)i * ldc + j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float b = B[(long)k * ldb + j];
            for (int i = 0; i < M; i++)
                C[(long)i * ldc + j] += A[(long)i * lda + k] * b;
        }
    }
}
