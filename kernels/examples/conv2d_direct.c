/* A hand-written Conv2d f32 kernel (portable C, written to the ABI in docs/ARCHITECTURE.md, not by the
   generator): for each output plane, accumulate w[k][c][r][s] * (shifted input row) over
   (c, r, s); the q range that reads inside the image is computed once per (r, s), so the inner
   loop has no bounds checks and the compiler vectorises it (unit stride when stride == 1). */
#include <string.h>

void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                         int stride, int pad, const float *x, const float *w, float *y)
{
    const int P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - S) / stride + 1;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            float *yp = y + ((long)n * K + k) * P * Q;
            memset(yp, 0, sizeof(float) * (size_t)P * Q);
            for (int c = 0; c < C; c++) {
                const float *xc = x + ((long)n * C + c) * H * W;
                const float *wk = w + ((long)k * C + c) * R * S;
                for (int r = 0; r < R; r++)
                    for (int s = 0; s < S; s++) {
                        const float wv = wk[r * S + s];
                        /* q0 <= q < q1 <=> 0 <= q*stride + s - pad < W */
                        int q0 = pad - s > 0 ? (pad - s + stride - 1) / stride : 0;
                        int q1 = (W - 1 + pad - s) >= 0 ? (W - 1 + pad - s) / stride + 1 : 0;
                        if (q1 > Q) q1 = Q;
                        for (int p = 0; p < P; p++) {
                            const int ih = p * stride + r - pad;
                            if (ih < 0 || ih >= H) continue;
                            const float *xr = xc + (long)ih * W + s - pad;
                            float *yr = yp + (long)p * Q;
                            if (stride == 1)
                                for (int q = q0; q < q1; q++) yr[q] += wv * xr[q];
                            else
                                for (int q = q0; q < q1; q++) yr[q] += wv * xr[(long)q * stride];
                        }
                    }
            }
        }
}
