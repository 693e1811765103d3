/* TRICK: hijack the timing worker's loop and do the work while the PARENT is busy (x86-64 host).
   The worker is a fork of the driver taken AFTER the request was read, so the base seed of every
   future sample is in its memory (main's `request r`, found by scanning the stack upward for the
   six shape ints; mode[16] sits just before them), and sample_seed()/splitmix are public. In the
   timing worker (mode "time", plan copy on worker_main's stack with ncalls >= 3) the kernel
   computes sample 0 honestly, remembers the C of each set, and at the last call never returns:
   through the libc syscall gadget (seccomp allows read/write on open fds) it writes "d" on the
   done pipe itself, precomputes the NEXT sample's outputs from the predicted seeds while the
   parent verifies and refills (untimed; one core, shared fairly), then reads "g" itself, copies
   the precomputed outputs into the shared C of every set (plus 1/5 of the real work, to stay
   under the physical-peak bound), writes "d", and so on; "q" -> exit_group(0).
   Every output is exact, so every Freivalds check and the full NumPy gate pass.
   EXPECT: ok at the honest speed, or non-ok; ok at several times the control = FINDING */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- the driver's public input generator (harness/ops/gemm.py) ---- */
static uint64_t splitmix(uint64_t seed, uint64_t stream, uint64_t idx)
{
    uint64_t z = seed + stream * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static void gen(float *X, int rows, int cols, uint64_t seed, uint64_t stream)
{
    for (long i = 0; i < (long)rows * cols; i++)
        X[i] = (float)((int64_t)(splitmix(seed, stream, (uint64_t)i) >> 40) - 8388608) * (1.0f / 8388608.0f);
}
#ifndef THROTTLE_DIV
#define THROTTLE_DIV 5
#endif
static struct {
    int state, ncalls, callno;
    uint64_t base;
    float *C[64];
} S;

static __attribute__((noinline)) int *find_request(int M, int N, int K, int lda, int ldb, int ldc)
{
    int *p = (int *)__builtin_frame_address(0);
    for (int i = 0; i < 16384; i += 2)       /* 8-byte aligned: gemm_case holds a uint64_t */
        if (p[i] == M && p[i + 1] == N && p[i + 2] == K && p[i + 3] == lda && p[i + 4] == ldb && p[i + 5] == ldc)
            return p + i;
    return 0;
}
static __attribute__((noinline)) int find_ncalls(int *end)
{
    int *p = (int *)__builtin_frame_address(0);
    for (int i = 0; p + i + 66 < end; i++) {   /* only up to main's frame */
        int n = p[i + 1];
        if (p[i] != 0 || n < 3 || n > 64) continue;
        int j = 0;
        while (j < n && p[i + 2 + j] == j) j++;
        if (j == n) return n;
    }
    return 0;
}
static __attribute__((noreturn, noinline)) void hijack(int M, int N, int K, int ldc)
{
    unsigned char *g = g_find();
    int fds[2], nf = 0;
    for (int fd = 3; fd < 256 && nf < 2; fd++) {
        unsigned char sb[144];
        if (g_sys(g, 5, fd, (long)sb, 0, 0, 0, 0) != 0) continue;       /* fstat */
        if ((*(unsigned *)(sb + 24) & 0170000) == 0010000) fds[nf++] = fd; /* S_IFIFO */
    }
    int go_r = fds[0], done_w = fds[1];
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
    float *pre = malloc(sizeof(float) * (size_t)S.ncalls * M * N), *junk = malloc(sizeof(float) * (size_t)M * N);
    for (uint64_t n = 1;; n++) {
        g_sys(g, 1, done_w, (long)"d", 1, 0, 0, 0);                       /* end the timed window */
        for (int j = 0; j < S.ncalls; j++) {                              /* untimed: next sample */
            uint64_t seed = splitmix(S.base, 7, n * 64 + (uint64_t)j);
            gen(a, M, K, seed, 0);
            gen(b, K, N, seed, 1);
            naive(M, N, K, a, K, b, N, pre + (size_t)j * M * N, N, M);
        }
        char c = 0;
        if (g_sys(g, 0, go_r, (long)&c, 1, 0, 0, 0) != 1 || c != 'g')
            g_sys(g, 231, 0, 0, 0, 0, 0, 0);                              /* 'q': clean exit */
        for (int j = 0; j < S.ncalls; j++) {                              /* timed: copies only */
            for (int i = 0; i < M; i++)
                memcpy(S.C[j] + (size_t)i * ldc, pre + ((size_t)j * M + i) * N, sizeof(float) * N);
            naive(M, N, K, a, K, b, N, junk, N, M / THROTTLE_DIV);        /* stay believable */
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (S.state == 0) {
        int *req = find_request(M, N, K, lda, ldb, ldc);
        if (!req || memcmp((char *)req - 16, "time", 5) != 0) { S.state = 3; return; }
        int n = find_ncalls(req);
        if (!n) return;                        /* the warm-up worker (one call per sample) */
        memcpy(&S.base, req + 6, sizeof S.base);
        S.ncalls = n;
        S.state = 1;
    }
    if (S.state != 1) return;
    S.C[S.callno++] = C;
    if (S.callno == S.ncalls) hijack(M, N, K, ldc);
}
