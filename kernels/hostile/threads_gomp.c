/* TRICK: the OpenMP runtime entry point called by hand (GOMP_parallel), no -fopenmp needed.
   EXPECT: rejected or link_error */
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
void GOMP_parallel(void (*fn)(void *), void *data, unsigned nthreads, unsigned flags);
int omp_get_thread_num(void);
struct job { int M, N, K, lda, ldb, ldc; const float *A, *B; float *C; };
static void body(void *p) { struct job *j = p; int t = omp_get_thread_num(), h = j->M / 2;
    int r0 = t ? h : 0, r1 = t ? j->M : h;
    naive(r1 - r0, j->N, j->K, j->A + (long)r0 * j->lda, j->lda, j->B, j->ldb, j->C + (long)r0 * j->ldc, j->ldc, r1 - r0); }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { struct job j = { M, N, K, lda, ldb, ldc, A, B, C }; GOMP_parallel(body, &j, 2, 0); }
