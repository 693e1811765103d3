/* MKL baseline for GEMM f16, bf16 and i8 (harness-owned; may call MKL; the harness defines
   TENSOROP_GEMM_F16, _BF16 or _I8 above this file): MKL's own low-precision GEMMs, AMX or AVX-512
   (the note says which path, tensorop_mkl.h):
     bf16: cblas_gemm_bf16bf16f32 (f32 accumulation and C), f16: cblas_gemm_f16f16f32;
     i8:   cblas_gemm_s8u8s32, whose row-major A is unsigned 8-bit and B signed: our A is signed, so
           it is shifted to unsigned (a ^ 0x80 = a + 128, into a buffer kept between calls: M*K
           work against M*N*K) and MKL's offset ao = -128 takes the shift back out; exact int32 C. */
#include <stdlib.h>
#include "tensorop_mkl.h"
#include "tensorop_lowp.h"

typedef tensorop_in_t in_t;      /* the dtype's types, TENSOROP_GEMM_FN */
typedef tensorop_out_t out_t;
#define FN TENSOROP_GEMM_FN

#if defined(TENSOROP_GEMM_I8)
static MKL_INT32 no_offset;
static void gemm_i8(int M, int N, int K, const uint8_t *Au, int lda, const int8_t *B, int ldb, int32_t *C, int ldc)
{
    cblas_gemm_s8u8s32(CblasRowMajor, CblasNoTrans, CblasNoTrans, CblasFixOffset, M, N, K, 1.0f, Au, lda, -128,
                       B, ldb, 0, 0.0f, C, ldc, &no_offset);
}
#endif

static void mkl_warm_up(void)
{
#if defined(TENSOROP_GEMM_I8)
    uint8_t a[64]; int8_t b[64]; int32_t c[64];
    for (int i = 0; i < 64; i++) { a[i] = 129; b[i] = 1; }
    gemm_i8(8, 8, 8, a, 8, b, 8, c, 8);
#else
    MKL_BF16 a[64], b[64]; float c[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = 0x3c00;
#if defined(TENSOROP_GEMM_BF16)
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
#else
    cblas_gemm_f16f16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
#endif
#endif
}

void FN(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc)
{
#if defined(TENSOROP_GEMM_I8)
    static uint8_t *au;
    static size_t have;
    const size_t need = (size_t)M * K;
    if (need > have) {
        free(au);
        au = malloc(need ? need : 1);
        have = au ? need : 0;
        if (!au) return;
    }
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) au[(size_t)i * K + k] = (uint8_t)(A[(size_t)i * lda + k] ^ 0x80);
    lib_routine("gemm_s8u8s32");
    gemm_i8(M, N, K, au, K, B, ldb, C, ldc);
#elif defined(TENSOROP_GEMM_BF16)
    lib_routine("gemm_bf16bf16f32");
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, (const MKL_BF16 *)A, lda,
                           (const MKL_BF16 *)B, ldb, 0.0f, C, ldc);
#else
    lib_routine("gemm_f16f16f32");
    cblas_gemm_f16f16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, (const MKL_F16 *)A, lda,
                         (const MKL_F16 *)B, ldb, 0.0f, C, ldc);
#endif
}
