/* TRICK: honest result, forged time, by editing the DRIVER's memory. Every call: read
   CLOCK_MONOTONIC ourselves (clock_gettime through the libc syscall gadget below: no syscall
   instruction, no library address taken), then scan the caller's stack frames (bounded by
   [stack] from /proc/self/maps) for 8-byte slots that hold a tv_nsec taken in the last 2 ms --
   the driver's saved start time t0 -- and move them 3/4 of the way towards the time this call ends (gadget address and stack top
   are cached in dead stack memory).
   The driver then measures (t1 - t0') = a fraction of the real time, on outputs that are all
   correct, so every verification passes.
   EXPECT: non-ok (suspicious/rejected/wrong_answer); ok with gflops far above the honest
   control = FINDING (faked speed) */
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
static unsigned long stack_top(unsigned char *g)
{
    char buf[16384];
    long fd = g_sys(g, 2, (long)"/proc/self/maps", 0, 0, 0, 0, 0), n = 0, r;
    if (fd < 0) return 0;
    while (n < (long)sizeof buf - 1 && (r = g_sys(g, 0, fd, (long)buf + n, sizeof buf - 1 - n, 0, 0, 0)) > 0) n += r;
    g_sys(g, 3, fd, 0, 0, 0, 0, 0);
    buf[n] = 0;
    for (char *l = buf; *l; ) {
        char *e = l; while (*e && *e != '\n') e++;
        for (char *q = l; q + 7 <= e; q++)
            if (q[0] == '[' && q[1] == 's' && q[2] == 't' && q[3] == 'a' && q[4] == 'c' && q[5] == 'k' && q[6] == ']') {
                const char *x; hexval(l, &x); return (unsigned long)hexval(x + 1, &x);
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
    volatile unsigned long *st = stash();          /* gadget + stack top cached in dead stack */
    unsigned char *g;
    unsigned long hi;
    if (st[0] == 0x7a3bef00UL) { g = (unsigned char *)st[1]; hi = st[2]; }
    else { g = g_find(); hi = g ? stack_top(g) : 0; st[0] = 0x7a3bef00UL; st[1] = (unsigned long)g; st[2] = hi; }
    long t0[2], t1[2];
    if (g) g_sys(g, 228, 1, (long)t0, 0, 0, 0, 0);
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (!g) return;
    g_sys(g, 228, 1, (long)t1, 0, 0, 0, 0);
    if (t1[0] != t0[0]) return;
    unsigned long lo = (unsigned long)__builtin_frame_address(0);
    if (!hi || hi - lo > (1UL << 20)) hi = lo + 4096;
    for (long *p = (long *)lo; (unsigned long)(p + 1) <= hi; p++) {
        long v = *p;
        if (v >= 0 && v < 2000000000L && v <= t0[1] && v > t0[1] - 2000000L)
            *p = v + (t1[1] - v) * 3 / 4;           /* the driver will see 1/4 of the real time */
    }
}
