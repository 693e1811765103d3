/* tensorop timing driver for Conv2d f32 (harness-owned, never LLM-written).
 *
 *   void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
 *                            int stride, int pad, const float *x, const float *w, float *y);
 *   y = conv(x, w): x is N x C x H x W (NCHW), w is K x C x R x S, zero padding `pad` on all
 *   sides, y is N x K x P x Q, P = (H + 2*pad - R)/stride + 1, Q = (W + 2*pad - S)/stride + 1.
 *
 * The protocol and the hardening are driver_core.h's (request on stdin, one record on fd 3,
 * poisoned outputs, fresh inputs per call in rotating sets, every timed call verified, pick.bin).
 * case=N,C,H,W,K,R,S,stride,pad,seed. x is stream 0 and w stream 1 of the seed, in their NCHW /
 * KCRS element order (harness/ops/conv2d.py reproduces them bit for bit).
 *
 * The in-driver check of a call: u = random +-1 over the output positions (n, p, q);
 * z_k = sum_{n,p,q} u y[n,k,p,q] against sum_{c,r,s} w[k,c,r,s] T[c,r,s] with
 * T[c,r,s] = sum_{n,p,q} u x_pad[n, c, p*stride + r, q*stride + s], in double:
 * O(N P Q C R S) instead of the convolution's O(N K P Q C R S); ||z - z_ref|| / ||y|| estimates
 * the relative Frobenius error of y, like GEMM's Freivalds check (E ||z - z_ref||^2 = ||y - y_ref||^2
 * for random signs). The denominator is y's own norm, not ||z_ref||: with few output channels
 * ||z_ref||^2 is a sum of a few squared projections, which can come out small by chance and push an
 * honest kernel's estimate past the tolerance (3 channels: one draw in a thousand 12x its mean). A
 * kernel cannot shrink the estimate through it: an output far from y_ref moves z as much as y.
 */
#include "driver_core.h"

#define OP_NAME "conv2d"
#define OP_NIN 2
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                         int stride, int pad, const float *x, const float *w, float *y);
#ifdef TENSOROP_PAIR
void tensorop_conv2d_f32_b(int N, int C, int H, int W, int K, int R, int S,
                           int stride, int pad, const float *x, const float *w, float *y);
#define OP_KERNEL_B tensorop_conv2d_f32_b
#endif
#define OP_KERNEL tensorop_conv2d_f32
typedef void (*op_fn)(int, int, int, int, int, int, int, int, int, const float *, const float *, float *);

#define TENSOROP_CASE_CONV2D
#include "tensorop_cases.h"     /* op_case, op_parse_case */


static void op_sizes(const op_case *c, size_t in_bytes[], size_t *out_words)
{
    in_bytes[0] = sizeof(float) * (size_t)c->N * c->C * c->H * c->W;
    in_bytes[1] = sizeof(float) * (size_t)c->K * c->C * c->R * c->S;
    *out_words = (size_t)c->N * c->K * c->P * c->Q;
}

static void op_fill(const op_case *c, void *in[], uint64_t seed)
{
    float *x = in[0], *w = in[1];
    size_t nx = (size_t)c->N * c->C * c->H * c->W, nw = (size_t)c->K * c->C * c->R * c->S;
    for (size_t i = 0; i < nx; i++) x[i] = uniform_pm1(seed, 0, i);
    for (size_t i = 0; i < nw; i++) w[i] = uniform_pm1(seed, 1, i);
}

static void op_call(op_fn f, const op_case *c, void *in[], void *out)
{
    f(c->N, c->C, c->H, c->W, c->K, c->R, c->S, c->stride, c->pad, in[0], in[1], out);
}

static size_t op_scratch_doubles(const op_case *c)
{
    return (size_t)c->N * c->P * c->Q + (size_t)c->C * c->R * c->S;
}

#define CONV_DEN_CAP 16.0

static double op_check(const op_case *c, void *in[], const void *out, uint64_t draw, int rep, double *scratch)
{
    const float *x = in[0], *w = in[1], *y = out;
    const size_t PQ = (size_t)c->P * c->Q, CRS = (size_t)c->C * c->R * c->S, RS = (size_t)c->R * c->S;
    double *u = scratch, *T = scratch + (size_t)c->N * PQ;
    for (size_t i = 0; i < (size_t)c->N * PQ; i++)
        u[i] = sign_pm1(draw, 11 + rep, i);
    for (size_t i = 0; i < CRS; i++)
        T[i] = 0.0;
    for (int n = 0; n < c->N; n++)
        for (int ch = 0; ch < c->C; ch++) {
            const float *xc = x + ((size_t)n * c->C + ch) * c->H * c->W;
            for (int r = 0; r < c->R; r++)
                for (int s = 0; s < c->S; s++) {
                    double t = 0.0;
                    for (int p = 0; p < c->P; p++) {
                        int ih = p * c->stride + r - c->pad;
                        if (ih < 0 || ih >= c->H) continue;
                        const float *xr = xc + (size_t)ih * c->W;
                        const double *ur = u + (size_t)n * PQ + (size_t)p * c->Q;
                        for (int q = 0; q < c->Q; q++) {
                            int iw = q * c->stride + s - c->pad;
                            if (iw >= 0 && iw < c->W) t += ur[q] * xr[iw];
                        }
                    }
                    T[(size_t)ch * RS + (size_t)r * c->S + s] += t;
                }
        }
    double num = 0.0, den = 0.0, zref = 0.0;
    for (int k = 0; k < c->K; k++) {
        const float *wk = w + (size_t)k * CRS;
        double ref = 0.0, got = 0.0;
        for (size_t i = 0; i < CRS; i++)
            ref += (double)wk[i] * T[i];
        for (int n = 0; n < c->N; n++) {
            const float *yk = y + ((size_t)n * c->K + k) * PQ;
            const double *un = u + (size_t)n * PQ;
            for (size_t i = 0; i < PQ; i++) {
                got += un[i] * yk[i];
                den += (double)yk[i] * yk[i];
            }
        }
        num += (got - ref) * (got - ref);
        zref += ref * ref;
    }
    /* The error relative to the output's norm: ||z_ref||^2 alone is K squared projections, whose
       sum comes out small now and then for few output channels and fails a correct kernel. But the
       kernel chooses ||y||: a pair of huge values that the signs cancel in z would make any output
       pass, so ||y||^2 counts at most CONV_DEN_CAP x ||z_ref||^2 (its expectation is ||y_ref||^2). */
    if (den > CONV_DEN_CAP * zref) den = CONV_DEN_CAP * zref;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#include "driver_modes.h"
