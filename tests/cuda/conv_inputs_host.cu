/* Host instantiation of the CUDA conv2d driver's input generator (tests/test_cuda_conv.py).
 *
 * Compiles the real driver source (harness/driver/cuda_conv2d_driver.cu) without its main and
 * calls the same __host__ __device__ element function its fill_kernel runs on the device, for
 * every element of the guarded x and w allocations of one case. Writes x then w, guards
 * included, as raw float32 to the named file; the test compares them with NumPy's inputs.
 *   conv_inputs_host N,C,H,W,K,R,S,stride,pad,seed OUT
 */
#define TENSOROP_DRIVER_NO_MAIN
#include "cuda_conv2d_driver.cu"

/* the driver declares the ABI function; this program never calls it */
extern "C" void tensorop_conv2d_f32_cuda(int, int, int, int, int, int, int, int, int, const float *, const float *,
                                         float *, cudaStream_t) {}

static int dump(FILE *f, uint64_t seed, uint64_t stream_, size_t n)
{
    for (size_t e = 0; e < n + 2 * GUARD; e++) {
        float v = conv_input_element(seed, stream_, e, n);
        if (fwrite(&v, sizeof v, 1, f) != 1) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    op_case c;
    if (argc != 3 || op_parse_case(argv[1], &c) != 0) {
        fprintf(stderr, "usage: conv_inputs_host N,C,H,W,K,R,S,stride,pad,seed OUT\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 4;
    int bad = dump(f, c.seed, 0, (size_t)c.N * c.C * c.H * c.W) || dump(f, c.seed, 1, (size_t)c.K * c.C * c.R * c.S);
    if (fclose(f) != 0) bad = 1;
    printf("guard=%d\n", GUARD);
    return bad ? 4 : 0;
}
