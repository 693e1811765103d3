/* TRICK (red team 3b, rv64-qemu only): relocate part of the kernel's own code out of the `kernel=` range with mremap (an
   "allowed" memory-management syscall, made through a libc gadget), point the executable's GOT
   (mprotect'd RW: also "allowed") at the relocated trampoline, and return after computing only
   1/8 of the rows. The driver's next PLT call after tensorop_region_end (fopen in write_output)
   lands in the trampoline, which restores the GOT, computes the remaining rows OUTSIDE the
   counted region, in code the plugin does not consider the kernel's, and resumes the PLT call.
   It modelled 7.7-7.9x the honest loop (rv64, arm64 128^3) before the plugin allowed memory
   management only of memory mapped inside the counted call.
   EXPECT rv64-qemu: rejected (mremap of the kernel's own code inside the counted call) */
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

/* ---------- the relocated page(s): no PC-relative reference outside this section ---------- */
__attribute__((naked, used, aligned(4096), section(".text.reloc"))) static void rt_tramp(void)
{
    __asm__ volatile(
        "addi sp, sp, -224\n"
        "sd ra, 0(sp)\n sd a0, 8(sp)\n sd a1, 16(sp)\n sd a2, 24(sp)\n sd a3, 32(sp)\n"
        "sd a4, 40(sp)\n sd a5, 48(sp)\n sd a6, 56(sp)\n sd a7, 64(sp)\n sd t1, 72(sp)\n"
        "fsd fa0, 80(sp)\n fsd fa1, 88(sp)\n fsd fa2, 96(sp)\n fsd fa3, 104(sp)\n"
        "fsd fa4, 112(sp)\n fsd fa5, 120(sp)\n fsd fa6, 128(sp)\n fsd fa7, 136(sp)\n"
        "lui a0, %hi(rt_stash)\n addi a0, a0, %lo(rt_stash)\n"
        "jal ra, rt_work\n"
        "ld ra, 0(sp)\n ld a0, 8(sp)\n ld a1, 16(sp)\n ld a2, 24(sp)\n ld a3, 32(sp)\n"
        "ld a4, 40(sp)\n ld a5, 48(sp)\n ld a6, 56(sp)\n ld a7, 64(sp)\n ld t1, 72(sp)\n"
        "fld fa0, 80(sp)\n fld fa1, 88(sp)\n fld fa2, 96(sp)\n fld fa3, 104(sp)\n"
        "fld fa4, 112(sp)\n fld fa5, 120(sp)\n fld fa6, 128(sp)\n fld fa7, 136(sp)\n"
        "addi sp, sp, 224\n"
        "addi t1, t1, -12\n"
        "jr t1\n");
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
/* ------------------------------------------------------------------------------------------ */

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
static uint64_t *stub_slot(const unsigned char *p)
{
    return (uint64_t *)(p + (int32_t)(w32(p) & 0xfffff000u) + ((int32_t)w32(p + 4) >> 20));
}

enum { SYS_MREMAP = 216, SYS_MMAP = 222, SYS_MPROTECT = 226 };

static int hijack(void)
{
    uintptr_t lo = (uintptr_t)&rt_tramp, hi = (uintptr_t)&rt_end;
    if ((lo & 4095) || (hi & 4095) || hi <= lo || (uintptr_t)&rt_work < lo || (uintptr_t)&rt_work >= hi) return 0;
    if ((uintptr_t)&hijack >= lo && (uintptr_t)&hijack < hi) return 0;
    (void)g_memcpy_in_libc();
    if (!g_plt || !is_stub(g_plt)) return 0;
    /* a plain glibc wrapper among the driver's imports: `li a7, NR; ecall; ...` -> its ecall */
    const unsigned char *g = 0;
    {
        const unsigned char *q = g_plt;
        while (is_stub(q - 16)) q -= 16;
        for (; is_stub(q) && !g; q += 16) {
            const unsigned char *t = *(const unsigned char *const *)stub_slot(q);
            if ((uintptr_t)t > 65536 && (w32(t) & 0xfffff) == 0x00893 && w32(t + 4) == 0x73) g = t + 4;
        }
    }
    if (!g) return 0;
    long sz = (long)(hi - lo);
    long x = g_sys(g, SYS_MMAP, 0, sz, 1 /* PROT_READ */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
    if (x < 0 && x > -4096) return 0;
    long y = g_sys(g, SYS_MREMAP, (long)lo, sz, sz, 3 /* MAYMOVE|FIXED */, x, 0);
    if (y != x) return 0;
    /* all PLT stubs around memcpy's */
    const unsigned char *p = g_plt;
    while (is_stub(p - 16)) p -= 16;
    st.ngot = 0;
    for (; is_stub(p) && st.ngot < 64; p += 16) {
        uint64_t *slot = stub_slot(p);
        st.slot[st.ngot] = slot;
        st.orig[st.ngot] = *slot;
        st.ngot++;
    }
    for (long i = 0; i < st.ngot; i++) {
        uintptr_t pg = (uintptr_t)st.slot[i] & ~(uintptr_t)4095;
        g_sys(g, SYS_MPROTECT, (long)pg, 4096, 3, 0, 0, 0);
    }
    for (long i = 0; i < st.ngot; i++) *st.slot[i] = (uint64_t)x;   /* the trampoline, relocated */
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
