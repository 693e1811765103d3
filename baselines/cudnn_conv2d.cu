/* cuDNN baseline for the tensorop CUDA conv2d ABI (harness-owned and trusted: built with the object
 * gate skipped and linked with libcudnn; timed through the same driver, gate and statistics as any
 * kernel). Legacy cuDNN API: NCHW float tensors, KCRS float filter, cross-correlation, symmetric
 * padding, no bias.
 *
 * True f32: the convolution's math type is CUDNN_FMA_MATH (no tensor cores, so no TF32), as the f32
 * error bound of harness/ops/conv2d.py requires; the algorithm is the fastest one that
 * cudnnFindConvolutionForwardAlgorithm measures under that math type. Descriptors, the algorithm
 * and its workspace are made once per shape (on the first, warm-up call of that shape) and cached:
 * timed calls only set the stream and call cudnnConvolutionForward.
 */
#include <cudnn.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

namespace {
struct Plan {
    int key[9];
    bool used;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t algo;
    void *workspace;
    size_t workspace_bytes;
};
constexpr int SLOTS = 16;     /* the gate's cases plus the timed shape fit */
Plan plans[SLOTS];
int next_slot;

bool ok(cudnnStatus_t s, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS) return true;
    fprintf(stderr, "cudnn baseline: %s: %s\n", what, cudnnGetErrorString(s));
    return false;
}

cudnnHandle_t handle()
{
    static cudnnHandle_t h = nullptr;     /* created on the first (warm-up) call */
    if (!h && !ok(cudnnCreate(&h), "cudnnCreate")) h = nullptr;
    return h;
}

void release(Plan &p)
{
    if (!p.used) return;
    cudnnDestroyTensorDescriptor(p.x);
    cudnnDestroyTensorDescriptor(p.y);
    cudnnDestroyFilterDescriptor(p.w);
    cudnnDestroyConvolutionDescriptor(p.conv);
    if (p.workspace) cudaFree(p.workspace);
    p = Plan{};
}

Plan *plan_for(const int key[9])
{
    for (auto &p : plans)
        if (p.used && !memcmp(p.key, key, sizeof p.key)) return &p;
    Plan &p = plans[next_slot];
    next_slot = (next_slot + 1) % SLOTS;
    release(p);
    const int N = key[0], C = key[1], H = key[2], W = key[3], K = key[4], R = key[5], S = key[6], stride = key[7],
              pad = key[8];
    cudnnCreateTensorDescriptor(&p.x);
    cudnnCreateTensorDescriptor(&p.y);
    cudnnCreateFilterDescriptor(&p.w);
    cudnnCreateConvolutionDescriptor(&p.conv);
    p.used = true;
    memcpy(p.key, key, sizeof p.key);
    int n, k, P, Q;
    if (!ok(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W), "x descriptor") ||
        !ok(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, K, C, R, S), "w descriptor") ||
        !ok(cudnnSetConvolution2dDescriptor(p.conv, pad, pad, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT), "convolution descriptor") ||
        !ok(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH), "math type FMA") ||
        !ok(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &k, &P, &Q), "output size") ||
        !ok(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, k, P, Q), "y descriptor")) {
        release(p);
        return nullptr;
    }
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    if (!ok(cudnnFindConvolutionForwardAlgorithm(handle(), p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                 &found, perf), "cudnnFindConvolutionForwardAlgorithm")) {
        release(p);
        return nullptr;
    }
    int best = -1;        /* perf is sorted by time; the first that ran under FMA math */
    for (int i = 0; i < found && best < 0; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType == CUDNN_FMA_MATH) best = i;
    if (best < 0) {
        fprintf(stderr, "cudnn baseline: no forward algorithm ran with CUDNN_FMA_MATH for this shape\n");
        release(p);
        return nullptr;
    }
    p.algo = perf[best].algo;
    if (!ok(cudnnGetConvolutionForwardWorkspaceSize(handle(), p.x, p.w, p.conv, p.y, p.algo, &p.workspace_bytes),
            "workspace size")) {
        release(p);
        return nullptr;
    }
    if (p.workspace_bytes && cudaMalloc(&p.workspace, p.workspace_bytes) != cudaSuccess) {
        fprintf(stderr, "cudnn baseline: no device memory for a %zu-byte workspace\n", p.workspace_bytes);
        release(p);
        return nullptr;
    }
    return &p;
}
}  // namespace

extern "C" void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                                         const float *x, const float *w, float *y, cudaStream_t stream)
{
    const int key[9] = {N, C, H, W, K, R, S, stride, pad};
    if (!handle()) return;                 /* y stays poisoned: the driver reports the call as wrong */
    cudnnSetStream(handle(), stream);      /* Find runs (and synchronises) on it too, on a shape's first call */
    Plan *p = plan_for(key);
    if (!p) return;
    const float one = 1.0f, zero = 0.0f;
    ok(cudnnConvolutionForward(handle(), &one, p->x, x, p->w, w, p->conv, p->algo, p->workspace, p->workspace_bytes,
                               &zero, p->y, y), "cudnnConvolutionForward");
}
