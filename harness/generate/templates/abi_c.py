"""The C text every CPU GEMM template shares: the ABI prototype per dtype (`abi`), the C types of
A/B and C (`C_TYPES`), and the ABI function's body (`abi_body`: the whole GEMM on the calling
thread, or N split over the task's threads, each with private buffers, calling the template's
`gemm_part`)."""
from __future__ import annotations

ABI = ("void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,\n"
       "                       const float *B, int ldb, float *C, int ldc)")


C_TYPES = {"f32": ("float", "float"), "f16": ("uint16_t", "float"), "bf16": ("uint16_t", "float"),
           "i8": ("int8_t", "int32_t")}


def abi(dtype: str = "f32") -> str:
    if dtype == "f32":
        return ABI
    ti, to = C_TYPES[dtype]
    sym = f"tensorop_gemm_{dtype}"
    return (f"void {sym}(int M, int N, int K, const {ti} *A, int lda,\n"
            f"{' ' * (len(sym) + 6)}const {ti} *B, int ldb, {to} *C, int ldc)")


def abi_body(T: int, align: str, dtype: str = "f32") -> str:
    """The ABI function: the whole GEMM on the calling thread, or (T > 1 and enough work) N split
    into T column ranges (multiples of `align`), one per thread, each with private buffers."""
    head = (f"{abi(dtype)}\n{{\n    if (M <= 0 || N <= 0) return;\n    if (K <= 0) {{\n"
            f"        for (int i = 0; i < M; i++) memset(C + (long)i * ldc, 0, (size_t)N * sizeof(out_t));\n"
            f"        return;\n    }}\n")
    if T <= 1:
        return head + "    gemm_part(M, N, K, A, lda, B, ldb, C, ldc, 0);\n}\n"
    return ("#include <pthread.h>\n"
            "typedef struct { int M, N, K; const in_t *A; int lda; const in_t *B; int ldb; out_t *C; int ldc; int tid; } job_t;\n"
            "static void *gemm_job(void *arg)\n{\n    const job_t *j = (const job_t *)arg;\n"
            "    gemm_part(j->M, j->N, j->K, j->A, j->lda, j->B, j->ldb, j->C, j->ldc, j->tid);\n    return 0;\n}\n\n"
            + head +
            "    /* threads only where the work pays for starting them (~20 us each) */\n"
            f"    long per = ((N + THREADS - 1) / THREADS + {align} - 1) / {align} * {align};\n"
            "    if ((double)M * N * K < 4e6 || per >= N) {\n"
            "        gemm_part(M, N, K, A, lda, B, ldb, C, ldc, 0);\n        return;\n    }\n"
            "    job_t job[THREADS];\n    pthread_t th[THREADS];\n    int started[THREADS] = {0};\n    int nt = 0;\n"
            "    for (long j0 = 0; j0 < N && nt < THREADS; j0 += per, nt++) {\n"
            "        const int n = (int)(N - j0 < per ? N - j0 : per);\n"
            "        job[nt] = (job_t){M, n, K, A, lda, B + j0, ldb, C + j0, ldc, nt};\n    }\n"
            "    for (int t = 1; t < nt; t++)\n"
            "        started[t] = pthread_create(&th[t], 0, gemm_job, &job[t]) == 0;\n"
            "    gemm_job(&job[0]);\n"
            "    for (int t = 1; t < nt; t++) {\n"
            "        if (started[t]) pthread_join(th[t], 0);\n"
            "        else gemm_job(&job[t]);        /* no thread: do its part here */\n    }\n}\n")


