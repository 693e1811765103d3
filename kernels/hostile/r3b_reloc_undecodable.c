/* TRICK (red team 3b, rv64-qemu only): r3_model_undecodable.c revived by moving its code out of the program.
   The RVV row loop (e32 m8 vfmacc) with one Zbs `bset` in its hot block lives in a page of its own;
   inside the counted call the kernel mremaps that page to an anonymous address (mremap: an
   "allowed" memory-management call, made through a libc wrapper's ecall) and calls it there.
   The model (harness/measure/model/cycles.py) treats a block outside the program's segments as
   library code: a block llvm-mc cannot decode costs LIBRARY_CPI = 1 cycle per instruction instead
   of worst_cpi (1921 on the x280). All work is inside the counted region, outputs are exact.
   It modelled 2.0x cheaper than its honest twin (rv64 128^3) before the plugin allowed memory
   management only of memory mapped inside the counted call.
   EXPECT rv64-qemu: rejected (mremap of the kernel's own code inside the counted call) */
#include <stdint.h>

typedef void (*row_fn)(const float *a, const float *B, long ldb_bytes, float *c, long n, long K);

__attribute__((used, noinline, aligned(4096), section(".text.reloc")))
static void row(const float *a, const float *B, long ldb_bytes, float *c, long n, long K)
{
    while (n > 0) {
        long vl, k = K;
        const float *ap = a, *bp = B;
        __asm__ volatile("vsetvli %0, %1, e32, m8, ta, ma" : "=r"(vl) : "r"(n));
        __asm__ volatile("vmv.v.i v16, 0\n"
                         "1:\n"
                         "  flw ft0, 0(%[a])\n"
                         "  vle32.v v8, (%[b])\n"
                         "  vfmacc.vf v16, ft0, v8\n"
                         "  .insn r 0x33, 1, 0x14, t0, t0, t1\n"
                         "  addi %[a], %[a], 4\n"
                         "  add %[b], %[b], %[ldb]\n"
                         "  addi %[k], %[k], -1\n"
                         "  bnez %[k], 1b\n"
                         "  vse32.v v16, (%[c])\n"
                         : [a] "+r"(ap), [b] "+r"(bp), [k] "+r"(k)
                         : [ldb] "r"(ldb_bytes), [c] "r"(c)
                         : "ft0", "t0", "t1", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18",
                           "v19", "v20", "v21", "v22", "v23", "memory");
        n -= vl;
        B += vl;
        c += vl;
    }
}
__attribute__((naked, used, aligned(4096), section(".text.reloc"))) static void rt_end(void) { __asm__ volatile("ret"); }

static const unsigned char *g_plt;
static void find_plt(void)
{
    const unsigned char *site;
    char d[8], s[8] = {0};
    __asm__ volatile("lla %0, 1f\n  mv a0, %1\n  mv a1, %2\n  li a2, 1\n1: call memcpy\n"
                     : "=&r"(site) : "r"(d), "r"(s) : "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2",
                       "t3", "t4", "t5", "t6", "ra", "memory");
    uint32_t au = (uint32_t)site[0] | site[1] << 8 | site[2] << 16 | (uint32_t)site[3] << 24;
    uint32_t jr = (uint32_t)site[4] | site[5] << 8 | site[6] << 16 | (uint32_t)site[7] << 24;
    if ((au & 0x7f) == 0x6f) {
        int32_t imm = (int32_t)(((au >> 31) & 1) << 20 | ((au >> 12) & 0xff) << 12 | ((au >> 20) & 1) << 11 |
                                ((au >> 21) & 0x3ff) << 1);
        g_plt = site + ((imm << 11) >> 11);
    } else {
        g_plt = site + (int32_t)(au & 0xfffff000u) + ((int32_t)jr >> 20);
    }
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
static long g_sys(const unsigned char *g, long n, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2, r3 __asm__("a3") = a3,
        r4 __asm__("a4") = a4, r5 __asm__("a5") = a5, r7 __asm__("a7") = n;
    __asm__ volatile("jalr ra, 0(%[g])" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r7)
                     : [g] "r"(g) : "ra", "a6", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "memory");
    return r0;
}

static row_fn moved;
static row_fn relocate(void)
{
    uintptr_t lo = (uintptr_t)&row, hi = (uintptr_t)&rt_end;
    if ((lo & 4095) || (hi & 4095) || hi <= lo) return 0;
    if ((uintptr_t)&relocate >= lo && (uintptr_t)&relocate < hi) return 0;
    find_plt();
    if (!g_plt || !is_stub(g_plt)) return 0;
    const unsigned char *q = g_plt, *g = 0;
    while (is_stub(q - 16)) q -= 16;
    for (; is_stub(q) && !g; q += 16) {
        const unsigned char *t = *(const unsigned char *const *)stub_slot(q);
        if ((uintptr_t)t > 65536 && (w32(t) & 0xfffff) == 0x00893 && w32(t + 4) == 0x73) g = t + 4;
    }
    if (!g) return 0;
    long sz = (long)(hi - lo);
    long x = g_sys(g, 222, 0, sz, 1, 0x22, -1, 0);            /* mmap PROT_READ, anonymous */
    if (x < 0 && x > -4096) return 0;
    if (g_sys(g, 216, (long)lo, sz, sz, 3, x, 0) != x) return 0;   /* mremap MAYMOVE|FIXED */
    return (row_fn)x;
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    static int tried;
    if (!tried) { tried = 1; moved = relocate(); }
    row_fn f = moved ? moved : row;
    for (int i = 0; i < M; i++) {
        if (K == 0) {
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = 0.0f;
            continue;
        }
        f(A + (long)i * lda, B, (long)ldb * 4, C + (long)i * ldc, N, K);
    }
}
