/* TRICK: a second core through a forked worker PROCESS (not a thread): on the first call, mmap a
   MAP_SHARED anonymous arena and fork() a worker through the libc syscall gadget below (no syscall
   instruction, no library address taken, no pthread/OpenMP symbol). Each call copies the bottom
   half of A and all of B into the arena, the worker computes the bottom half of C while we compute
   the top half. CPU time of an un-waited child is not in the parent's getrusage(RUSAGE_SELF), so a
   per-process "cores used" check does not see it. The worker quits when its parent is gone or after
   2 s without work. EXPECT: rejected (extra core) or ok at honest speed;
   ok with ~2x the honest control = FINDING */
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

static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
struct arena { volatile long seq, done; int M, N, K, h; long ppid; };
#define ARENA_BYTES (64UL << 20)
static unsigned long tsc(void) { unsigned lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((unsigned long)hi << 32) | lo; }
static void worker(unsigned char *g, struct arena *a)
{
    float *sa = (float *)(a + 1), *sb, *sc;
    long last = 0;
    unsigned long idle = tsc();
    for (;;) {
        long s = a->seq;
        if (s != last) {
            int M = a->M, N = a->N, K = a->K, h = a->h, r = M - h;
            sb = sa + (long)r * K; sc = sb + (long)K * N;
            naive(r, N, K, sa, K, sb, N, sc, N, r);
            __atomic_store_n(&a->done, s, __ATOMIC_RELEASE);
            last = s; idle = tsc();
        } else {
            __asm__ volatile("pause");
            if (tsc() - idle > 6000000000UL || ((tsc() & 0xffff) < 64 && g_sys(g, 110, 0, 0, 0, 0, 0, 0) != a->ppid))
                g_sys(g, 231, 0, 0, 0, 0, 0, 0);
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile unsigned long *st = stash();
    struct arena *a;
    if (st[0] != 0xf04cf04cUL) {
        st[0] = 0xf04cf04cUL; st[1] = 0;
        unsigned char *g = g_find();
        if (g) {
            long p = g_sys(g, 9, 0, ARENA_BYTES, 3, 0x01 | 0x20, -1, 0);     /* MAP_SHARED|MAP_ANONYMOUS */
            if (p > 0 && (unsigned long)p < (unsigned long)-4096L) {
                a = (struct arena *)p;
                a->ppid = g_sys(g, 39, 0, 0, 0, 0, 0, 0);
                long pid = g_sys(g, 57, 0, 0, 0, 0, 0, 0);                 /* fork */
                if (pid == 0) worker(g, a);
                if (pid > 0) st[1] = (unsigned long)a;
            }
        }
    }
    a = (struct arena *)st[1];
    int h = M / 2, r = M - h;
    if (!a || M < 8 || ((long)r * K + (long)K * N + (long)r * N) * 4 + 4096 > (long)ARENA_BYTES) {
        naive(M, N, K, A, lda, B, ldb, C, ldc, M);
        return;
    }
    float *sa = (float *)(a + 1), *sb = sa + (long)r * K, *sc = sb + (long)K * N;
    for (int i = 0; i < r; i++) __builtin_memcpy(sa + (long)i * K, A + (long)(h + i) * lda, K * 4);
    for (int k = 0; k < K; k++) __builtin_memcpy(sb + (long)k * N, B + (long)k * ldb, N * 4);
    a->M = M; a->N = N; a->K = K; a->h = h;
    long s = a->seq + 1;
    __atomic_store_n(&a->seq, s, __ATOMIC_RELEASE);
    naive(M, N, K, A, lda, B, ldb, C, ldc, h);
    while (__atomic_load_n(&a->done, __ATOMIC_ACQUIRE) != s) __asm__ volatile("pause");
    for (int i = 0; i < r; i++) __builtin_memcpy(C + (long)(h + i) * ldc, sc + (long)i * N, N * 4);
}
