/* tensorop timing driver for batched GEMM f32 (harness-owned, never LLM-written).
 *
 *   void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
 *                                  const float *B, int ldb, long strideB, float *C, int ldc, long strideC);
 *   for b < batch: C_b = A_b * B_b (row-major), A_b = A + b*strideA (M x K, lda >= K),
 *   B_b = B + b*strideB (K x N, ldb >= N), C_b = C + b*strideC (M x N, ldc >= N).
 *
 * case=batch,M,N,K,lda,ldb,ldc,strideA,strideB,strideC,seed. Element (b, i, j) of A is element
 * b*M*K + i*K + j of stream 0 (B: stream 1, b*K*N + i*N + j); padding (ld and stride gaps) holds
 * a NaN. The check of a call is Freivalds' per matrix (C_b x against A_b (B_b x)) accumulated
 * over the batch. Hardening: driver_core.h.
 */
#include "driver_core.h"

#define OP_NAME "gemm_batched"
#define OP_NIN 2
void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC);
#ifdef TENSOROP_PAIR
void tensorop_gemm_batched_f32_b(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                                 const float *B, int ldb, long strideB, float *C, int ldc, long strideC);
#define OP_KERNEL_B tensorop_gemm_batched_f32_b
#endif
#define OP_KERNEL tensorop_gemm_batched_f32
typedef void (*op_fn)(int, int, int, int, const float *, int, long, const float *, int, long, float *, int, long);

typedef struct {
    int batch, M, N, K, lda, ldb, ldc;
    long sA, sB, sC;
    uint64_t seed;
} op_case;

static int op_parse_case(const char *s, op_case *c)
{
    unsigned long long seed;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%d,%ld,%ld,%ld,%llu", &c->batch, &c->M, &c->N, &c->K, &c->lda, &c->ldb,
               &c->ldc, &c->sA, &c->sB, &c->sC, &seed) != 11)
        return -1;
    c->seed = seed;
    if (c->batch < 1 || c->M < 1 || c->N < 1 || c->K < 1 || c->lda < c->K || c->ldb < c->N || c->ldc < c->N ||
        c->sA < (long)c->M * c->lda || c->sB < (long)c->K * c->ldb || c->sC < (long)c->M * c->ldc)
        return -1;
    return 0;
}

static void op_sizes(const op_case *c, size_t in_bytes[], size_t *out_words)
{
    in_bytes[0] = sizeof(float) * (size_t)c->batch * c->sA;
    in_bytes[1] = sizeof(float) * (size_t)c->batch * c->sB;
    *out_words = (size_t)c->batch * c->sC;
}

static void fill_strided(float *X, const op_case *c, int rows, int cols, int ld, long stride, uint64_t seed,
                         uint64_t stream)
{
    float nan = nan_bits(PAD_BITS);
    for (size_t i = 0; i < (size_t)c->batch * stride; i++) X[i] = nan;
    for (int b = 0; b < c->batch; b++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                X[(size_t)b * stride + (size_t)i * ld + j] =
                    uniform_pm1(seed, stream, ((uint64_t)b * rows + i) * cols + j);
}

static void op_fill(const op_case *c, void *in[], uint64_t seed)
{
    fill_strided(in[0], c, c->M, c->K, c->lda, c->sA, seed, 0);
    fill_strided(in[1], c, c->K, c->N, c->ldb, c->sB, seed, 1);
}

static void op_call(op_fn f, const op_case *c, void *in[], void *out)
{
    f(c->batch, c->M, c->N, c->K, in[0], c->lda, c->sA, in[1], c->ldb, c->sB, out, c->ldc, c->sC);
}

static size_t op_scratch_doubles(const op_case *c)
{
    return (size_t)c->N + (size_t)c->K;
}

static double op_check(const op_case *c, void *in[], const void *out, uint64_t draw, int rep, double *scratch)
{
    double *x = scratch, *y = scratch + c->N, num = 0.0, den = 0.0;
    for (int b = 0; b < c->batch; b++) {
        const float *A = (const float *)in[0] + (size_t)b * c->sA, *B = (const float *)in[1] + (size_t)b * c->sB;
        const float *C = (const float *)out + (size_t)b * c->sC;
        for (int j = 0; j < c->N; j++)
            x[j] = sign_pm1(draw, 11 + rep, (uint64_t)b * c->N + j);
        for (int k = 0; k < c->K; k++) {
            double s = 0.0;
            for (int j = 0; j < c->N; j++) s += (double)B[(size_t)k * c->ldb + j] * x[j];
            y[k] = s;
        }
        for (int i = 0; i < c->M; i++) {
            double ay = 0.0, cx = 0.0;
            for (int k = 0; k < c->K; k++) ay += (double)A[(size_t)i * c->lda + k] * y[k];
            for (int j = 0; j < c->N; j++) cx += (double)C[(size_t)i * c->ldc + j] * x[j];
            num += (cx - ay) * (cx - ay);
            den += ay * ay;
        }
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#include "driver_modes.h"
