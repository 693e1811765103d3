/* An untuned RVV 1.0 GEMM (issue 20's example): for each row of C, one LMUL-8 accumulator
   strip of VLMAX(e32, m8) columns is computed over all of K with vfmacc.vf. No packing and no
   cache blocking: every row of C streams the whole of B (K x N) again. Few instructions per FMA,
   so a model without memory ranks it ahead of a tuned, packed kernel; beyond L2 it is memory-bound. */
#include <riscv_vector.h>
#include <stddef.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N;) {
            size_t vl = __riscv_vsetvl_e32m8((size_t)(N - j));
            vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
            for (int k = 0; k < K; k++)
                acc = __riscv_vfmacc_vf_f32m8(acc, a[k], __riscv_vle32_v_f32m8(B + (size_t)k * ldb + j, vl), vl);
            __riscv_vse32_v_f32m8(C + (size_t)i * ldc + j, acc, vl);
            j += (int)vl;
        }
    }
}
