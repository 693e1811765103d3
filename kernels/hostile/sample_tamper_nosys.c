/* TRICK: forged speed with NO system call, NO library call, NO static data -- nothing the object
   gate can see. The kernel shares the driver's address space: it follows the pointers held in the
   caller's stack frame (the next ~2 KiB above our frame) that point into the driver's heap
   (near the driver's code: above our return address), keeps the small malloc chunks (glibc chunk
   header < 8 KiB) that are not A, B or C, and in them rescales every run of >= 2
   neighbouring doubles that look like per-sample times (1e-7 s .. 1 s) by 1/4. A rescaled value is
   tagged in its low mantissa byte so it is not rescaled twice. The math itself is honest, so every
   verification passes. EXPECT: suspicious/rejected/wrong_answer; ok with gflops far above the
   honest control = FINDING (faked speed) */
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
static int looks_like_time(double d) { return d > 1e-7 && d < 1.0; }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    unsigned long code = (unsigned long)__builtin_return_address(0);
    unsigned long *lo = (unsigned long *)__builtin_frame_address(0), *hi = lo + 0x900 / 8;
    for (unsigned long *p = lo; p < hi; p++) {
        unsigned long v = *p;
        if (v <= code || v - code > (1UL << 30) || (v & 15)) continue;              /* the brk heap */
        unsigned long chunk = ((unsigned long *)v)[-1];
        if ((chunk & 1) == 0 || (chunk & ~7UL) < 64 || (chunk & ~7UL) > 8192) continue;  /* small, in use */
        if ((v >= (unsigned long)A && v < (unsigned long)(A + (long)M * lda)) ||                 /* not ours */
            (v >= (unsigned long)B && v < (unsigned long)(B + (long)K * ldb)) ||
            (v >= (unsigned long)C && v < (unsigned long)(C + (long)M * ldc))) continue;
        long n = ((chunk & ~7UL) - 16) / 8;
        union { double d; unsigned long u; } *a = (void *)v;
        for (long i = 0; i < n; i++) {
            if (!looks_like_time(a[i].d) || (a[i].u & 0xff) == 0xa5) continue;
            int near = (i > 0 && looks_like_time(a[i - 1].d)) || (i + 1 < n && looks_like_time(a[i + 1].d));
            if (!near) continue;
            a[i].d *= 0.25;
            a[i].u = (a[i].u & ~0xffUL) | 0xa5;
        }
    }
}
