/* Conv2d f32 baseline: im2col + OpenBLAS SGEMM (harness-owned; the only conv allowed to call BLAS).
   Per image: col (C*R*S x P*Q) gathers the zero-padded input patches, then
   y[n] (K x P*Q) = w (K x C*R*S) * col. A 1x1 stride-1 unpadded layer needs no im2col. */
#include <stdlib.h>
#include <string.h>
#include "tensorop_openblas.h"

void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                         int stride, int pad, const float *x, const float *w, float *y)
{
    const int P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - S) / stride + 1;
    const long PQ = (long)P * Q, CRS = (long)C * R * S;
    const int direct = R == 1 && S == 1 && stride == 1 && pad == 0;
    lib_routine(direct ? "sgemm" : "im2col+sgemm");
    float *col = direct ? NULL : malloc(sizeof(float) * (size_t)(CRS * PQ));
    for (int n = 0; n < N; n++) {
        const float *xn = x + (long)n * C * H * W;
        if (!direct) {
            for (int c = 0; c < C; c++)
                for (int r = 0; r < R; r++)
                    for (int s = 0; s < S; s++) {
                        float *d = col + (((long)c * R + r) * S + s) * PQ;
                        for (int p = 0; p < P; p++) {
                            const int ih = p * stride + r - pad;
                            if (ih < 0 || ih >= H) {
                                memset(d + (long)p * Q, 0, sizeof(float) * (size_t)Q);
                                continue;
                            }
                            const float *xr = xn + ((long)c * H + ih) * W;
                            for (int q = 0; q < Q; q++) {
                                const int iw = q * stride + s - pad;
                                d[(long)p * Q + q] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
                            }
                        }
                    }
        }
        scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, (int)PQ, (int)CRS, 1.0f, w, (int)CRS,
                          direct ? xn : col, (int)PQ, 0.0f, y + (long)n * K * PQ, (int)PQ);
    }
    free(col);
}
