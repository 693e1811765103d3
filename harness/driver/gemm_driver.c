/* tensorop timing driver for GEMM, f32 and (with -DTENSOROP_GEMM_F16/_BF16/_I8) its
 * low-precision variants (harness-owned, never LLM-written).
 *
 *   void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
 *                          const float *B, int ldb, float *C, int ldc);
 *   C = A * B, row-major; A is M x K (lda >= K), B is K x N (ldb >= N), C is M x N (ldc >= N).
 *   tensorop_gemm_f16 / _bf16 take uint16_t bit patterns and write float C; tensorop_gemm_i8
 *   takes int8_t and writes int32_t C (tensorop.h, tensorop_lowp.h).
 *
 * The protocol and the hardening are driver_core.h / driver_modes.h's: the request on stdin, one
 * record on fd 3, outputs poisoned before every call, fresh inputs per call in rotating sets,
 * timing in a seccomp-filtered worker process with the clock and the samples in the driver,
 * every timed call verified, pick.bin for the full NumPy check.
 * case=M,N,K,lda,ldb,ldc,seed. A is stream 0 and B stream 1 of the seed, indexed by the
 * element's logical (row, column); the padding (lda > K, ldb > N) holds a NaN of its own
 * payload (int8: 127) (harness/ops/gemm.py and gemm_lowp.py reproduce all of it bit for bit).
 * f16/bf16 inputs are the f32 inputs rounded to nearest even; int8 inputs are the top byte of
 * the element's splitmix64. int8 products are checked exactly (every term is an integer that
 * a double holds exactly, so a correct kernel's relative error is 0).
 *
 * The in-driver check of a call (Freivalds): ||C x - A (B x)|| / ||A (B x)|| in double for a
 * random +-1 vector x drawn after the call; for a random sign vector it estimates the relative
 * Frobenius error of C. O(MN + MK + KN) against the call's O(MNK).
 */
#include "driver_core.h"
#include "tensorop_lowp.h"

/* The element types (TENSOROP_GEMM_F16 / _BF16 / _I8 from the op's driver_defines: tensorop_lowp.h;
 * else f32): in_t the inputs' storage, out_t C's; in_make draws one input element, in_value/out_value
 * read one as a double for the check; IN_PAD fills the padding of A and B. */
#if defined(TENSOROP_GEMM_FN)
typedef tensorop_in_t in_t;
typedef tensorop_out_t out_t;
#define GEMM_FN TENSOROP_GEMM_FN
static double in_value(in_t x) { return tensorop_widen(x); }
#if defined(TENSOROP_GEMM_I8)
#define IN_PAD 127                      /* no NaN in int8: a value the products would notice */
/* the top 8 bits of the element's splitmix64 (harness/ops/inputs.py: small_ints) */
static in_t in_make(uint64_t seed, uint64_t stream, uint64_t idx) { return (in_t)((int)(splitmix(seed, stream, idx) >> 56) - 128); }
#elif defined(TENSOROP_GEMM_F16)
#define IN_PAD 0x7EEFu                  /* a NaN */
static in_t in_make(uint64_t seed, uint64_t stream, uint64_t idx) { return tensorop_f32_to_f16(uniform_pm1(seed, stream, idx)); }
#else
#define IN_PAD 0x7FC1u                  /* a NaN */
static in_t in_make(uint64_t seed, uint64_t stream, uint64_t idx) { return tensorop_f32_to_bf16(uniform_pm1(seed, stream, idx)); }
#endif
#else
typedef float in_t;
typedef float out_t;
#define GEMM_FN tensorop_gemm_f32
#define IN_PAD_NAN
static in_t in_make(uint64_t seed, uint64_t stream, uint64_t idx) { return uniform_pm1(seed, stream, idx); }
static double in_value(in_t x) { return x; }
#endif
static double out_value(out_t x) { return x; }

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define OP_NAME "gemm"
#define OP_NIN 2
void GEMM_FN(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc);
#ifdef TENSOROP_PAIR
void CAT(GEMM_FN, _b)(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc);
#define OP_KERNEL_B CAT(GEMM_FN, _b)
#endif
#define OP_KERNEL GEMM_FN
typedef void (*op_fn)(int, int, int, const in_t *, int, const in_t *, int, out_t *, int);

#define TENSOROP_CASE_GEMM
#include "tensorop_cases.h"     /* op_case, op_parse_case */


static void op_sizes(const op_case *c, size_t in_bytes[], size_t *out_words)
{
    in_bytes[0] = sizeof(in_t) * (size_t)c->M * c->lda;
    in_bytes[1] = sizeof(in_t) * (size_t)c->K * c->ldb;
    *out_words = (size_t)c->M * c->ldc;
}

/* rows x cols of a row-major matrix with leading dimension ld; the padding gets a NaN */
static void fill_matrix(in_t *X, int rows, int cols, int ld, uint64_t seed, uint64_t stream)
{
#ifdef IN_PAD_NAN
    const in_t pad = nan_bits(PAD_BITS);
#else
    const in_t pad = (in_t)IN_PAD;
#endif
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++)
            X[(size_t)i * ld + j] = in_make(seed, stream, (uint64_t)i * cols + j);
        for (int j = cols; j < ld; j++)
            X[(size_t)i * ld + j] = pad;
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
    const in_t *A = in[0], *B = in[1];
    const out_t *C = out;
    double *x = scratch, *y = scratch + c->N;
    if (c->M <= 2) {
        /* One or two rows: the projection's denominator is one or two squared Gaussians, so its
           ratio has Cauchy-like tails and fails correct kernels now and then. The exact relative
           Frobenius error costs M*K*N here, no more than Freivalds' B x (K*N). */
        double num = 0.0, den = 0.0;
        for (int i = 0; i < c->M; i++) {
            const in_t *arow = A + (size_t)i * c->lda;
        const out_t *crow = C + (size_t)i * c->ldc;
            for (int j = 0; j < c->N; j++) x[j] = 0.0;
            for (int k = 0; k < c->K; k++) {
                const in_t *brow = B + (size_t)k * c->ldb;
                const double a = in_value(arow[k]);
                for (int j = 0; j < c->N; j++)
                    x[j] += a * in_value(brow[j]);
            }
            for (int j = 0; j < c->N; j++) {
                const double d = out_value(crow[j]) - x[j];
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
        const in_t *row = B + (size_t)k * c->ldb;
        double s = 0.0;
        for (int j = 0; j < c->N; j++)
            s += in_value(row[j]) * x[j];
        y[k] = s;
    }
    double num = 0.0, den = 0.0;
    for (int i = 0; i < c->M; i++) {          /* (C x - A y)_i */
        const in_t *arow = A + (size_t)i * c->lda;
        const out_t *crow = C + (size_t)i * c->ldc;
        double ay = 0.0, cx = 0.0;
        for (int k = 0; k < c->K; k++)
            ay += in_value(arow[k]) * y[k];
        for (int j = 0; j < c->N; j++)
            cx += out_value(crow[j]) * x[j];
        num += (cx - ay) * (cx - ay);
        den += ay * ay;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#include "driver_modes.h"
