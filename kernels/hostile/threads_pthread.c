/* TRICK: split rows over a second pthread. EXPECT: rejected */
#include <pthread.h>
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
struct job { int M, N, K, lda, ldb, ldc; const float *A, *B; float *C; };
static void *run(void *p) { struct job *j = p; naive(j->M, j->N, j->K, j->A, j->lda, j->B, j->ldb, j->C, j->ldc, j->M); return 0; }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int h = M / 2; pthread_t t;
    struct job j = { M - h, N, K, lda, ldb, ldc, A + (long)h * lda, B, C + (long)h * ldc };
    pthread_create(&t, 0, run, &j);
    naive(M, N, K, A, lda, B, ldb, C, ldc, h);
    pthread_join(t, 0);
}
