/* TRICK: print a fake ok JSON line / fake timing lines, then _exit(0). EXPECT: rejected */
#include <stdio.h>
#include <unistd.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc;
    printf("{\"status\": \"ok\", \"gflops\": 99999, \"median_s\": 1e-9}\n");
    fflush(stdout);
    _exit(0);
}
