/* tensorop timing driver for GEMM f32 (harness-owned, never LLM-written).
 *
 *   void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
 *                          const float *B, int ldb, float *C, int ldc);
 *   C = A * B, row-major; A is M x K (lda >= K), B is K x N (ldb >= N), C is M x N (ldc >= N).
 *
 * The protocol and the hardening are driver_core.h / driver_modes.h's: the request on stdin, one
 * record on fd 3, outputs poisoned before every call, fresh inputs per call in rotating sets,
 * timing in a seccomp-filtered worker process with the clock and the samples in the driver,
 * every timed call verified, pick.bin for the full NumPy check.
 * case=M,N,K,lda,ldb,ldc,seed. A is stream 0 and B stream 1 of the seed, indexed by the
 * element's logical (row, column); the padding (lda > K, ldb > N) holds a NaN of its own
 * payload (harness/ops/gemm.py reproduces all of it bit for bit).
 *
 * The in-driver check of a call (Freivalds): ||C x - A (B x)|| / ||A (B x)|| in double for a
 * random +-1 vector x drawn after the call; for a random sign vector it estimates the relative
 * Frobenius error of C. O(MN + MK + KN) against the call's O(MNK).
 */
#include "driver_core.h"

#define OP_NAME "gemm"
#define OP_NIN 2
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
#ifdef TENSOROP_PAIR
void tensorop_gemm_f32_b(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
#define OP_KERNEL_B tensorop_gemm_f32_b
#endif
#define OP_KERNEL tensorop_gemm_f32
typedef void (*op_fn)(int, int, int, const float *, int, const float *, int, float *, int);

typedef struct {
    int M, N, K, lda, ldb, ldc;
    uint64_t seed;
} op_case;

static int op_parse_case(const char *s, op_case *c)
{
    unsigned long long seed;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%llu", &c->M, &c->N, &c->K, &c->lda, &c->ldb, &c->ldc, &seed) != 7)
        return -1;
    c->seed = seed;
    if (c->M < 1 || c->N < 1 || c->K < 1 || c->lda < c->K || c->ldb < c->N || c->ldc < c->N)
        return -1;
    return 0;
}

static void op_sizes(const op_case *c, size_t in_bytes[], size_t *out_words)
{
    in_bytes[0] = sizeof(float) * (size_t)c->M * c->lda;
    in_bytes[1] = sizeof(float) * (size_t)c->K * c->ldb;
    *out_words = (size_t)c->M * c->ldc;
}

/* rows x cols of a row-major matrix with leading dimension ld; the padding gets a NaN */
static void fill_matrix(float *X, int rows, int cols, int ld, uint64_t seed, uint64_t stream)
{
    float nan = nan_bits(PAD_BITS);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++)
            X[(size_t)i * ld + j] = uniform_pm1(seed, stream, (uint64_t)i * cols + j);
        for (int j = cols; j < ld; j++)
            X[(size_t)i * ld + j] = nan;
    }
}

static void op_fill(const op_case *c, void *in[], uint64_t seed)
{
    fill_matrix(in[0], c->M, c->K, c->lda, seed, 0);
    fill_matrix(in[1], c->K, c->N, c->ldb, seed, 1);
}

static void op_call(op_fn f, const op_case *c, void *in[], void *out)
{
    f(c->M, c->N, c->K, in[0], c->lda, in[1], c->ldb, out, c->ldc);
}

static size_t op_scratch_doubles(const op_case *c)
{
    return (size_t)c->N + (size_t)c->K;
}

static double op_check(const op_case *c, void *in[], const void *out, uint64_t draw, int rep, double *scratch)
{
    const float *A = in[0], *B = in[1], *C = out;
    double *x = scratch, *y = scratch + c->N;
    if (c->M <= 2) {
        /* One or two rows: the projection's denominator is one or two squared Gaussians, so its
           ratio has Cauchy-like tails and fails correct kernels now and then. The exact relative
           Frobenius error costs M*K*N here, no more than Freivalds' B x (K*N). */
        double num = 0.0, den = 0.0;
        for (int i = 0; i < c->M; i++) {
            const float *arow = A + (size_t)i * c->lda, *crow = C + (size_t)i * c->ldc;
            for (int j = 0; j < c->N; j++) x[j] = 0.0;
            for (int k = 0; k < c->K; k++) {
                const float *brow = B + (size_t)k * c->ldb;
                const double a = arow[k];
                for (int j = 0; j < c->N; j++)
                    x[j] += a * (double)brow[j];
            }
            for (int j = 0; j < c->N; j++) {
                const double d = (double)crow[j] - x[j];
                num += d * d;
                den += x[j] * x[j];
            }
        }
        (void)draw; (void)rep; (void)y;
        return den > 0 ? sqrt(num / den) : sqrt(num);
    }
    for (int j = 0; j < c->N; j++)
        x[j] = sign_pm1(draw, 11 + rep, (uint64_t)j);
    for (int k = 0; k < c->K; k++) {          /* y = B x */
        const float *row = B + (size_t)k * c->ldb;
        double s = 0.0;
        for (int j = 0; j < c->N; j++)
            s += (double)row[j] * x[j];
        y[k] = s;
    }
    double num = 0.0, den = 0.0;
    for (int i = 0; i < c->M; i++) {          /* (C x - A y)_i */
        const float *arow = A + (size_t)i * c->lda, *crow = C + (size_t)i * c->ldc;
        double ay = 0.0, cx = 0.0;
        for (int k = 0; k < c->K; k++)
            ay += (double)arow[k] * y[k];
        for (int j = 0; j < c->N; j++)
            cx += (double)crow[j] * x[j];
        num += (cx - ay) * (cx - ay);
        den += ay * ay;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#include "driver_modes.h"
