/* Hand-optimised GEMM f32 for RISC-V RVV 1.0 (reference example kernel).
 *
 *   C = A * B, row-major; A is MxK (lda), B is KxN (ldb), C is MxN (ldc); C is overwritten.
 *   Build: clang-19 --target=riscv64-linux-gnu -march=rv64gcv -mabi=lp64d -O3 -ffp-contract=fast
 *
 * Vector-length agnostic: the register tile width is VLMAX(e32, m8), queried at run time
 * with vsetvlmax, so one binary is correct (and fully vectorised) at any VLEN.
 *
 * Register blocking (the choice that minimises executed instructions per FMA):
 *   RVV has no "FMA by lane" form; the A operand of an outer-product step is a scalar
 *   (vfmacc.vf), so every (row, k) costs one scalar load plus one vfmacc per vector group
 *   of the row.  With LMUL = 8 one vfmacc.vf performs VLMAX(m8) = VLEN/4 FMAs, so we use
 *   the widest groups: the tile is MR = 3 rows x NR = VLMAX(m8) columns:
 *       3 x m8 register groups : accumulators (C rows 0..2)
 *       1 x m8 register group  : one row of packed B        (all 32 vector registers)
 *   Per k step: 1 vle32 (B row) + 1 add (B pointer) + 3 flw (A column, from the packed
 *   panel) + 3 vfmacc.vf = 8 instructions for 3*VLEN/4 FMAs (the k loop is unrolled 8x so
 *   loop control is amortised), i.e. ~2.7 instructions per VLEN/4 FMAs, versus ~4.6 for an
 *   LMUL=4 tile of 7 rows and ~8.5 for an LMUL=2 tile of 15 rows.
 *   The vector length is set once per micro-kernel call; there is no vsetvl in the k loop.
 *   The k loop itself is a short inline-assembly block (see ukernel() for why); everything
 *   else (packing, write-back, edges) uses the RVV intrinsics.
 *
 * Cache blocking (BLIS / Goto style):
 *   for jc in N step NC; for pc in K step KC:  pack B[pc:+KC, jc:+NC] into NR-wide panels
 *     for ic in M step MC:                     pack A[ic:+MC, pc:+KC] into 3-row panels
 *       for jr in NC step NR; for ir in MC step MR: micro-kernel
 *   The first K chunk overwrites C, later ones add to it.
 *   Packed B: panel at column jr holds Bp[k*w + j] (w = panel width, NR or the N remainder),
 *   so the micro-kernel streams it with unit-stride loads.  Packed A: Ap[k*3 + i] (each row
 *   scattered with a strided store); rows missing at the M edge are zero-filled.
 *
 * Edges: the N remainder is handled by running the micro-kernel with vl = remaining
 * columns (loads/stores never touch columns >= N); the M remainder by zero rows in the
 * packed A panel whose results are not stored.  Nothing outside C's MxN region is written.
 * Packing buffers are static (sized by the block sizes, not by M,N,K); single-threaded.
 */
#include <riscv_vector.h>
#include <stddef.h>

#define MR 3
#define KC 256
#define MC 120                    /* multiple of MR */
#define BUF_B (256 * 4096)        /* floats: KC x 4096 columns */

static float packA[MC * KC] __attribute__((aligned(64)));
static float packB[BUF_B] __attribute__((aligned(64)));

/* Pack rows [0,mc) x cols [0,kc) of A into 3-row panels: Ap[k*3 + i] = A[p+i][k].
   Each row is read with unit-stride m8 loads and scattered into the panel with a strided
   store (stride 3 floats); rows missing at the M edge are filled with zeros. */
static void pack_A(int mc, int kc, const float *A, size_t lda, float *Ap)
{
    const ptrdiff_t st = MR * sizeof(float);
    for (int p = 0; p < mc; p += MR) {
        int m = mc - p < MR ? mc - p : MR;
        for (int i = 0; i < MR; i++) {
            const float *a = A + (size_t)(p + i) * lda;
            for (size_t k = 0, n = (size_t)kc; n > 0;) {
                size_t vl = __riscv_vsetvl_e32m8(n);
                vfloat32m8_t v = i < m ? __riscv_vle32_v_f32m8(a + k, vl)
                                       : __riscv_vfmv_v_f_f32m8(0.0f, vl);
                __riscv_vsse32_v_f32m8(Ap + MR * k + i, st, v, vl);
                k += vl;
                n -= vl;
            }
        }
        Ap += (size_t)MR * kc;
    }
}

/* Pack rows [0,kc) x cols [0,nc) of B into panels of width nr (last one narrower):
   the panel starting at column q is stored at Bp + q*kc as kc rows of w floats. */
static void pack_B(int kc, int nc, size_t nr, const float *B, size_t ldb, float *Bp)
{
    for (size_t q = 0; q < (size_t)nc; q += nr) {
        size_t w = (size_t)nc - q < nr ? (size_t)nc - q : nr;
        size_t vl = __riscv_vsetvl_e32m8(w);          /* == w: w <= VLMAX(m8) */
        const float *b = B + q;
        float *d = Bp + q * kc;
        for (int k = 0; k < kc; k++) {
            __riscv_vse32_v_f32m8(d, __riscv_vle32_v_f32m8(b, vl), vl);
            b += ldb;
            d += w;
        }
    }
}

/* One k step of the inner loop in assembly: load a row of packed B (vl floats), load
   A[k][0..2] and do three rank-1 updates.  o is the byte offset of A[k][0] in the panel. */
#define KSTEP_ASM(o)                                   \
    "vle32.v   %[b], (%[bp])\n\t"                      \
    "flw       ft0, " #o "+0(%[ap])\n\t"               \
    "flw       ft1, " #o "+4(%[ap])\n\t"               \
    "flw       ft2, " #o "+8(%[ap])\n\t"               \
    "add       %[bp], %[bp], %[bs]\n\t"                \
    "vfmacc.vf %[c0], ft0, %[b]\n\t"                   \
    "vfmacc.vf %[c1], ft1, %[b]\n\t"                   \
    "vfmacc.vf %[c2], ft2, %[b]\n\t"

/* 3 x vl micro-kernel: C[0:m, 0:vl] (+)= Ap(kc x 3) * Bp(kc x vl), Bp row stride vl.
 *
 * The k loop is written as inline assembly (the accumulators stay ordinary C variables of
 * type vfloat32m8_t, allocated by the compiler to v0/v8/v16/v24).  Reason: the tile uses
 * all 32 vector registers, and when the loop is unrolled in C the compiler's scheduler
 * hoists the next B load above the current FMAs, which needs a fifth m8 group and makes it
 * spill accumulators to the stack on every step; a compiler barrier between steps instead
 * makes it re-emit vsetvli after every step.  The assembly is the same instruction sequence
 * the intrinsics express, unrolled 8x: per k step vle32 + add + 3 flw + 3 vfmacc.vf. */
static void ukernel(int kc, const float *restrict Ap, const float *restrict Bp,
                    float *restrict C, size_t ldc, int m, size_t vl, int acc)
{
    vfloat32m8_t c0, c1, c2, b;
    size_t n8 = (size_t)kc / 8, n1 = (size_t)kc % 8;
    size_t bs = vl * sizeof(float);                 /* packed B row stride in bytes */
    __asm__ volatile(
        "vsetvli   zero, %[vl], e32, m8, ta, ma\n\t"
        "vmv.v.i   %[c0], 0\n\t"                       /* zero the accumulators */
        "vmv.v.i   %[c1], 0\n\t"
        "vmv.v.i   %[c2], 0\n\t"
        "beqz      %[n8], 2f\n"
        "1:\n\t"                                       /* k loop, unrolled by 8 */
        KSTEP_ASM(0) KSTEP_ASM(12) KSTEP_ASM(24) KSTEP_ASM(36)
        KSTEP_ASM(48) KSTEP_ASM(60) KSTEP_ASM(72) KSTEP_ASM(84)
        "addi      %[ap], %[ap], 96\n\t"
        "addi      %[n8], %[n8], -1\n\t"
        "bnez      %[n8], 1b\n"
        "2:\n\t"
        "beqz      %[n1], 4f\n"
        "3:\n\t"                                       /* remaining 0..7 k steps */
        KSTEP_ASM(0)
        "addi      %[ap], %[ap], 12\n\t"
        "addi      %[n1], %[n1], -1\n\t"
        "bnez      %[n1], 3b\n"
        "4:\n"
        : [c0] "=&vr"(c0), [c1] "=&vr"(c1), [c2] "=&vr"(c2), [b] "=&vr"(b),
          [ap] "+r"(Ap), [bp] "+r"(Bp), [n8] "+r"(n8), [n1] "+r"(n1)
        : [vl] "r"(vl), [bs] "r"(bs)
        : "ft0", "ft1", "ft2", "memory");

    /* Write back rows < m; later K chunks add the partial sums already in C. */
    if (acc) c0 = __riscv_vfadd_vv_f32m8(c0, __riscv_vle32_v_f32m8(C, vl), vl);
    __riscv_vse32_v_f32m8(C, c0, vl);
    if (m > 1) {
        if (acc) c1 = __riscv_vfadd_vv_f32m8(c1, __riscv_vle32_v_f32m8(C + ldc, vl), vl);
        __riscv_vse32_v_f32m8(C + ldc, c1, vl);
    }
    if (m > 2) {
        if (acc) c2 = __riscv_vfadd_vv_f32m8(c2, __riscv_vle32_v_f32m8(C + 2 * ldc, vl), vl);
        __riscv_vse32_v_f32m8(C + 2 * ldc, c2, vl);
    }
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    const size_t nr = __riscv_vsetvlmax_e32m8();      /* NR = VLEN/4 floats */
    /* Block sizes for packed B: as many whole NR panels as fit BUF_B with KC rows
       (at VLEN > 16384 bits, shorten KC instead; kcb <= KC always, so packA fits). */
    int kcb = KC;
    size_t ncb = (BUF_B / KC) / nr * nr;
    if (ncb == 0) {
        ncb = nr;
        kcb = (int)(BUF_B / nr);
    }

    for (int jc = 0; jc < N; jc += (int)ncb) {
        int nc = (size_t)(N - jc) < ncb ? N - jc : (int)ncb;
        for (int pc = 0; pc < K; pc += kcb) {
            int kc = K - pc < kcb ? K - pc : kcb;
            int acc = pc > 0;                     /* first K chunk overwrites C */
            pack_B(kc, nc, nr, B + (size_t)pc * ldb + jc, (size_t)ldb, packB);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                const float *Ablk = A + (size_t)ic * lda + pc;
                pack_A(mc, kc, Ablk, (size_t)lda, packA);
                for (size_t jr = 0; jr < (size_t)nc; jr += nr) {
                    size_t vl = (size_t)nc - jr < nr ? (size_t)nc - jr : nr;
                    const float *Bp = packB + jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = mc - ir < MR ? mc - ir : MR;
                        ukernel(kc, packA + (size_t)ir * kc, Bp,
                                C + (size_t)(ic + ir) * ldc + jc + jr, (size_t)ldc, m, vl, acc);
                    }
                }
            }
        }
    }
}
