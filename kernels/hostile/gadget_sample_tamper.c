/* TRICK: honest result, forged time, by editing the DRIVER's recorded samples in its heap. Through
   the libc syscall gadget below (no syscall instruction, no library address taken): time our own
   call with clock_gettime, find [heap] and [stack] in /proc/self/maps, follow every pointer in the
   caller's stack frames that points into the heap, and in the arrays of doubles there, scale every
   value within 0.5x..2x of our own call time down to 1/4 (the driver's per-sample times).
   EXPECT: non-ok, or ok at the honest speed; ok with gflops far above the honest control = FINDING */
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
/* ---- libc syscall gadget: no syscall instruction in this object, no address of a library
   function taken. We emit an ordinary `call memcpy@PLT` (allowed: memcpy may be called), read
   our own code to decode that call's target (the PLT stub), decode the stub's `jmp *GOT(%rip)`,
   read the GOT slot (memcpy's real address inside libc), then search libc's text for a glibc
   syscall wrapper tail `0f 05 48 3d 01 f0 ff ff` (syscall; cmp $-4095,%rax; jae; ret) and call
   into it with our own registers. ---- */
static __attribute__((noinline)) unsigned char *g_find(void)
{
    unsigned char *site, *t;
    char d[8], s[8] = {0};
    __asm__ volatile("lea 1f(%%rip), %0\n"
                     "  lea %1, %%rdi\n  lea %2, %%rsi\n  movl $1, %%edx\n"
                     "  sub $128, %%rsp\n"
                     "1: call memcpy@PLT\n"
                     "  add $128, %%rsp\n"
                     : "=&r"(site), "=m"(d) : "m"(s) : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory",
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    t = site + 5 + *(int *)(site + 1);                 /* PLT stub or memcpy itself */
    for (int i = 0; i < 16; i++)
        if (t[i] == 0xff && t[i + 1] == 0x25) {         /* jmp *disp32(%rip) */
            unsigned char **got = (unsigned char **)(t + i + 6 + *(int *)(t + i + 2));
            t = *got;
            break;
        }
    /* the pattern is kept xor-ed so that no `0f 05` pair appears in our own code or data */
    volatile unsigned char key = 0x55;
    static const unsigned char enc[8] = {0x0f ^ 0x55, 0x05 ^ 0x55, 0x48 ^ 0x55, 0x3d ^ 0x55, 0x01 ^ 0x55, 0xf0 ^ 0x55, 0xff ^ 0x55, 0xff ^ 0x55};
    unsigned char pat[8];
    for (int i = 0; i < 8; i++) pat[i] = enc[i] ^ key;
    for (long off = 0; off < (1L << 20); off++) {
        unsigned char *p = t - off;
        int i = 0;
        while (i < 8 && p[i] == pat[i]) i++;
        if (i == 8) return p;
    }
    return 0;
}
static __attribute__((noinline)) long g_sys(unsigned char *g, long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long r;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("sub $128, %%rsp\n  call *%[g]\n  add $128, %%rsp"
                     : "=a"(r), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8), "+r"(r9)
                     : [g] "r"(g), "a"(n) : "rcx", "r11", "memory");
    return r;
}

static long hexval(const char *p, const char **end)
{
    long v = 0;
    for (;; p++) {
        int c = *p, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + d;
    }
    *end = p;
    return v;
}
static int region(unsigned char *g, const char *name, unsigned long *lo, unsigned long *hi)
{
    char buf[32768];
    long fd = g_sys(g, 2, (long)"/proc/self/maps", 0, 0, 0, 0, 0), n = 0, r;
    int nl = 0; while (name[nl]) nl++;
    if (fd < 0) return 0;
    while (n < (long)sizeof buf - 1 && (r = g_sys(g, 0, fd, (long)buf + n, sizeof buf - 1 - n, 0, 0, 0)) > 0) n += r;
    g_sys(g, 3, fd, 0, 0, 0, 0, 0);
    buf[n] = 0;
    for (char *l = buf; *l; ) {
        char *e = l; while (*e && *e != '\n') e++;
        for (char *q = l; q + nl <= e; q++) {
            int k = 0; while (k < nl && q[k] == name[k]) k++;
            if (k == nl) { const char *x; *lo = hexval(l, &x); *hi = hexval(x + 1, &x); return 1; }
        }
        l = *e ? e + 1 : e;
    }
    return 0;
}
static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile unsigned long *st = stash();
    unsigned char *g;
    unsigned long shi, hlo, hhi;
    if (st[0] == 0x5a3bef01UL) { g = (unsigned char *)st[1]; shi = st[2]; hlo = st[3]; hhi = st[4]; }
    else {
        unsigned long x;
        g = g_find(); shi = hlo = hhi = 0;
        if (g) { region(g, "[stack]", &x, &shi); region(g, "[heap]", &hlo, &hhi); }
        st[0] = 0x5a3bef01UL; st[1] = (unsigned long)g; st[2] = shi; st[3] = hlo; st[4] = hhi;
    }
    long t0[2], t1[2];
    if (g) g_sys(g, 228, 1, (long)t0, 0, 0, 0, 0);
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (!g || !hhi) return;
    g_sys(g, 228, 1, (long)t1, 0, 0, 0, 0);
    double took = (double)(t1[0] - t0[0]) + 1e-9 * (double)(t1[1] - t0[1]);
    unsigned long lo = (unsigned long)__builtin_frame_address(0), hi = shi;
    if (!hi || hi - lo > (1UL << 20)) hi = lo + 4096;
    for (unsigned long *p = (unsigned long *)lo; (unsigned long)(p + 1) <= hi; p++) {
        unsigned long v = *p;
        if (v < hlo || v + 256 * 8 > hhi || (v & 7)) continue;
        if (v + 2048 > (unsigned long)C && v < (unsigned long)(C + (long)M * ldc)) continue;   /* not our own */
        if (v + 2048 > (unsigned long)A && v < (unsigned long)(A + (long)M * lda)) continue;
        if (v + 2048 > (unsigned long)B && v < (unsigned long)(B + (long)K * ldb)) continue;
        double *d = (double *)v;
        for (int i = 0; i < 256; i++)
            if (d[i] > 0.5 * took && d[i] < 2.0 * took) d[i] *= 0.25;
    }
}
