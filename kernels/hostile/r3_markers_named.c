/* TRICK (round 3, markers by name): the QEMU plugin once took a marker call as genuine when the
   block before it belonged to a function *named* run_profile. This kernel defines its own static
   run_profile, tensorop_region_begin and tensorop_region_end and brackets only the last fifth of
   its rows with them (the first four fifths "outside the counted region"), so a plugin that
   matches names would count a fifth of the work. Markers are now taken by address only: these
   functions are plain kernel code, counted with the rest.
   EXPECT: ok at its honest speed (modelled cycles of the whole product) */
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
__attribute__((noinline)) static void tensorop_region_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) static void tensorop_region_end(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) static void run_profile(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                                   float *C, int ldc)
{
    int head = M - M / 5;
    tensorop_region_end();                  /* "leave" the counted region for the bulk of the rows */
    naive(head, N, K, A, lda, B, ldb, C, ldc, head);
    tensorop_region_begin();
    naive(M - head, N, K, A + (long)head * lda, lda, B, ldb, C + (long)head * ldc, ldc, M - head);
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    run_profile(M, N, K, A, lda, B, ldb, C, ldc);
}
