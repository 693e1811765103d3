/* TRICK (red team 3b, arm64-qemu only): RED TEAM (arm64 spelling of rt_reloc_got.c): mremap part of the kernel's own code out of the
   plugin's `kernel=` range, mprotect the RELRO GOT RW (both "allowed" inside the counted call),
   point every PLT slot at the relocated trampoline, compute 1/8 of the rows, return. The driver's
   fopen after tensorop_region_end runs the trampoline (x16 = the GOT slot, from the PLT stub),
   which restores the GOT, computes the other 7/8 uncounted, and resumes the call.
   It modelled 7.7-7.9x the honest loop (rv64, arm64 128^3) before the plugin allowed memory
   management only of memory mapped inside the counted call.
   EXPECT arm64-qemu: rejected (mremap of the kernel's own code inside the counted call) */
#include <stdint.h>
#include <string.h>

struct stash {
    long done, ngot, rows0;
    uint64_t *slot[64];
    uint64_t orig[64];
    long M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C;
};
static struct stash st __asm__("rt_stash") __attribute__((used));

static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int r0, int r1)
{
    for (int i = r0; i < r1; i++) {
        float *c = C + (long)i * ldc;
        float a0 = A[(long)i * lda];
        for (int j = 0; j < N; j++) c[j] = a0 * B[j];
        for (int k = 1; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

__attribute__((naked, used, aligned(4096), section(".text.reloc"))) static void rt_tramp(void)
{
    __asm__ volatile(
        "sub sp, sp, #272\n"
        "stp x0, x1, [sp, #0]\n stp x2, x3, [sp, #16]\n stp x4, x5, [sp, #32]\n stp x6, x7, [sp, #48]\n"
        "stp x8, x16, [sp, #64]\n stp x29, x30, [sp, #80]\n"
        "stp q0, q1, [sp, #96]\n stp q2, q3, [sp, #128]\n stp q4, q5, [sp, #160]\n stp q6, q7, [sp, #192]\n"
        "ldr x0, 1f\n"
        "bl rt_work\n"
        "ldp x0, x1, [sp, #0]\n ldp x2, x3, [sp, #16]\n ldp x4, x5, [sp, #32]\n ldp x6, x7, [sp, #48]\n"
        "ldp x8, x16, [sp, #64]\n ldp x29, x30, [sp, #80]\n"
        "ldp q0, q1, [sp, #96]\n ldp q2, q3, [sp, #128]\n ldp q4, q5, [sp, #160]\n ldp q6, q7, [sp, #192]\n"
        "add sp, sp, #272\n"
        "ldr x17, [x16]\n"
        "br x17\n"
        ".p2align 3\n"
        "1: .quad rt_stash\n");
}
static void rt_work(struct stash *s) __asm__("rt_work");
__attribute__((used, noinline, section(".text.reloc"))) static void rt_work(struct stash *s)
{
    if (s->done) return;
    s->done = 1;
    for (long i = 0; i < s->ngot; i++) *s->slot[i] = s->orig[i];
    for (long i = s->rows0; i < s->M; i++) {
        float *c = s->C + i * s->ldc;
        {
            float a = s->A[i * s->lda];
#pragma clang loop vectorize(disable)
            for (long j = 0; j < s->N; j++) c[j] = a * s->B[j];
        }
        for (long k = 1; k < s->K; k++) {
            float a = s->A[i * s->lda + k];
            const float *b = s->B + k * s->ldb;
#pragma clang loop vectorize(disable)
            for (long j = 0; j < s->N; j++) c[j] += a * b[j];
        }
    }
}
__attribute__((naked, used, aligned(4096), section(".text.reloc"))) static void rt_end(void) { __asm__ volatile("ret"); }

static const unsigned char *g_plt;
static void find_plt(void)
{
    const unsigned char *site;
    char d[8], s[8] = {0};
    __asm__ volatile("adr %0, 1f\n  mov x0, %1\n  mov x1, %2\n  mov x2, #1\n1: bl memcpy\n"
                     : "=&r"(site) : "r"(d), "r"(s) : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
                       "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x30", "memory");
    uint32_t bl = *(const uint32_t *)site;
    g_plt = site + ((int32_t)(bl << 6) >> 4);
}
static uint32_t w32(const unsigned char *p) { return *(const uint32_t *)p; }
static int is_stub(const unsigned char *p)
{
    return (w32(p) & 0x9f00001f) == 0x90000010 && (w32(p + 4) & 0xffc003ff) == 0xf9400211 &&
           (w32(p + 8) & 0xffc003ff) == 0x91000210 && w32(p + 12) == 0xd61f0220;
}
static uint64_t *stub_slot(const unsigned char *p)
{
    uint32_t adrp = w32(p), ldr = w32(p + 4);
    int64_t imm = (int64_t)((((adrp >> 5) & 0x7ffff) << 2) | ((adrp >> 29) & 3));
    imm = (imm << 43) >> 43;
    uintptr_t page = ((uintptr_t)p & ~(uintptr_t)0xfff) + (uintptr_t)(imm << 12);
    return (uint64_t *)(page + ((ldr >> 10) & 0xfff) * 8);
}
static long g_sys(const unsigned char *g, long n, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long r0 __asm__("x0") = a0, r1 __asm__("x1") = a1, r2 __asm__("x2") = a2, r3 __asm__("x3") = a3,
        r4 __asm__("x4") = a4, r5 __asm__("x5") = a5, r8 __asm__("x8") = n;
    __asm__ volatile("blr %[g]" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r8)
                     : [g] "r"(g) : "x6", "x7", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x30", "memory");
    return r0;
}
enum { SYS_MREMAP = 216, SYS_MMAP = 222, SYS_MPROTECT = 226 };

static int hijack(void)
{
    uintptr_t lo = (uintptr_t)&rt_tramp, hi = (uintptr_t)&rt_end;
    if ((lo & 4095) || (hi & 4095) || hi <= lo || (uintptr_t)&rt_work < lo || (uintptr_t)&rt_work >= hi) return 0;
    if ((uintptr_t)&hijack >= lo && (uintptr_t)&hijack < hi) return 0;
    find_plt();
    if (!g_plt || !is_stub(g_plt)) return 0;
    const unsigned char *first = g_plt;
    while (is_stub(first - 16)) first -= 16;
    const unsigned char *g = 0;
    for (const unsigned char *q = first; is_stub(q) && !g; q += 16) {
        const unsigned char *t = *(const unsigned char *const *)stub_slot(q);
        if ((uintptr_t)t <= 65536) continue;
        for (int o = 0; o <= 8 && !g; o += 4)       /* after a nop / bti c */
            if ((w32(t + o) & 0xffe0001f) == 0xd2800008 && w32(t + o + 4) == 0xd4000001) g = t + o + 4;
    }
    if (!g) return 0;
    long sz = (long)(hi - lo);
    long x = g_sys(g, SYS_MMAP, 0, sz, 1, 0x22, -1, 0);
    if (x < 0 && x > -4096) return 0;
    long y = g_sys(g, SYS_MREMAP, (long)lo, sz, sz, 3, x, 0);
    if (y != x) return 0;
    st.ngot = 0;
    for (const unsigned char *p = first; is_stub(p) && st.ngot < 64; p += 16) {
        uint64_t *slot = stub_slot(p);
        st.slot[st.ngot] = slot;
        st.orig[st.ngot] = *slot;
        st.ngot++;
    }
    for (long i = 0; i < st.ngot; i++)
        g_sys(g, SYS_MPROTECT, (long)((uintptr_t)st.slot[i] & ~(uintptr_t)4095), 4096, 3, 0, 0, 0);
    for (long i = 0; i < st.ngot; i++) *st.slot[i] = (uint64_t)x;
    return 1;
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int rows0 = M / 8;
    st.M = M; st.N = N; st.K = K; st.lda = lda; st.ldb = ldb; st.ldc = ldc; st.A = A; st.B = B; st.C = C;
    st.done = 0; st.rows0 = rows0;
    static int tried;
    if (M < 64 || tried || !hijack()) { tried = 1; naive(M, N, K, A, lda, B, ldb, C, ldc, 0, M); return; }
    tried = 1;
    naive(M, N, K, A, lda, B, ldb, C, ldc, 0, rows0);
}
