/* Host instantiation of the CUDA GEMM driver's input generator (tests/test_cuda_run.py).
 *
 * Compiles the real driver source (harness/driver/cuda_gemm_driver.cu, f32 or -DTENSOROP_F16)
 * without its main and calls the same __host__ __device__ element function its fill_kernel runs
 * on the device, for every element of A (M x lda) and B (K x ldb), padding included. Writes A
 * then B as raw in_t (float32 or binary16 bits) to the named file; the test compares them with
 * NumPy's inputs (harness/ops/gemm.py, gemm_lowp.py).
 *   gemm_inputs_host M,N,K,lda,ldb,ldc,seed OUT
 */
#define TENSOROP_DRIVER_NO_MAIN
#include "cuda_gemm_driver.cu"

/* the driver declares the ABI function; this program never calls it */
extern "C" void KERNEL_SYMBOL(int, int, int, const in_t *, int, const in_t *, int, float *, int, cudaStream_t) {}

static int dump(FILE *f, uint64_t seed, uint64_t stream_, int rows, int cols, int ld)
{
    for (size_t e = 0; e < (size_t)rows * ld; e++) {
        in_t v = gemm_input_element(seed, stream_, e / ld, e % ld, cols);
        if (fwrite(&v, sizeof v, 1, f) != 1) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    op_case c;
    if (argc != 3 || op_parse_case(argv[1], &c) != 0) {
        fprintf(stderr, "usage: gemm_inputs_host M,N,K,lda,ldb,ldc,seed OUT\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 4;
    int bad = dump(f, c.seed, 0, c.M, c.K, c.lda) || dump(f, c.seed, 1, c.K, c.N, c.ldb);
    if (fclose(f) != 0) bad = 1;
    printf("dtype=%s\n", DTYPE);
    return bad ? 4 : 0;
}
