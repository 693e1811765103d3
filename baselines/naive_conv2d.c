/* Naive Conv2d f32 baseline: the textbook seven-deep loop nest over NCHW / KCRS, zero padding by
   bounds checks (what a straightforward C programmer writes; the compiler may vectorise it). */
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                         int stride, int pad, const float *x, const float *w, float *y)
{
    const int P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - S) / stride + 1;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    float acc = 0.0f;
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++) {
                            const int ih = p * stride + r - pad;
                            if (ih < 0 || ih >= H) continue;
                            for (int s = 0; s < S; s++) {
                                const int iw = q * stride + s - pad;
                                if (iw < 0 || iw >= W) continue;
                                acc += x[(((long)n * C + c) * H + ih) * W + iw] * w[(((long)k * C + c) * R + r) * S + s];
                            }
                        }
                    y[(((long)n * K + k) * P + p) * Q + q] = acc;
                }
}
