/* A conv2d "kernel" that hands the math to cuDNN. The prototypes are declared here (no cudnn.h
 * needed to compile it): what the object gate sees is the object's undefined cudnn* symbols,
 * and it rejects them (a library: the kernel must do the math itself).
 * EXPECT: rejected */
#include <cuda_runtime.h>

extern "C" {
typedef struct cudnnContext *cudnnHandle_t;
int cudnnCreate(cudnnHandle_t *handle);
int cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream);
int cudnnConvolutionForward(cudnnHandle_t handle, const void *alpha, const void *xDesc, const void *x,
                            const void *wDesc, const void *w, const void *convDesc, int algo, void *workSpace,
                            size_t workSpaceSizeInBytes, const void *beta, const void *yDesc, void *y);
}

extern "C" void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                                         const float *x, const float *w, float *y, cudaStream_t stream)
{
    static cudnnHandle_t h;
    if (!h) cudnnCreate(&h);
    cudnnSetStream(h, stream);
    const float one = 1.0f, zero = 0.0f;
    cudnnConvolutionForward(h, &one, nullptr, x, nullptr, w, nullptr, 0, nullptr, 0, &zero, nullptr, y);
}
