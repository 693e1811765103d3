"""The C text every CPU GEMM template shares: the ABI prototype per dtype (`abi`), the C types of
A/B and C (`C_TYPES`), and the ABI function's body (`abi_body`: the whole GEMM on the calling
thread, or N split over the task's threads, each with private buffers, calling the template's
`gemm_part`)."""
from __future__ import annotations

import textwrap

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




def blocked_loops(panel_t: str = "float", k_stride: str = "kc", k_call: str = "kc", k_groups: str = "",
                  full_tile: str = "", row_edge: str = "", edge_pragma: str = "",
                  edge_add: str = "acc ? cp[(long)i * ldc + j] + ctile[i * nr + j] : ctile[i * nr + j]",
                  b_stride: str = "",
                  pack_b: str = "pack_B(kc, nc, nr, B + (long)pc * ldb + jc, ldb, packB);",
                  edge_tile: str = "", images: tuple[str, str] | None = None, a_panel_outer: bool = False) -> str:
    """The BLIS/Goto loop nest every CPU GEMM template's gemm_part runs (jc -> pc -> ic -> jr -> ir):
    B packed per (jc, pc) panel, A per (ic, pc) block, the micro-kernel on full MR x nr tiles
    (`full_tile`) and, through the tile buffer `ctile`, on the edges. A template names its panel
    element type, the k extent of a packed panel (`k_stride`: kc, or kp rounded up to k-groups,
    with `k_groups` the line that computes it) and what its micro-kernel is called with (`k_call`);
    `b_stride`: a B panel's extent per column where it differs from A's (a panel that carries its
    column sums after its k-groups); `pack_b`: the statement that packs B's (pc, jc) block into
    packB (conv.py's implicit GEMM gathers it from the image instead); `edge_tile`: the call that
    computes an edge tile into `ctile` (default: the full micro-kernel). `images`: (count, C
    stride), expressions of the caller's: that many problems share A and N (conv.py's images of a
    batch), their B blocks packed one after another by `pack_b` (each a whole number of nr-column
    panels), each A block packed once for all of them, their C `stride` elements apart.
    `a_panel_outer` swaps the two tile loops (ic -> ir -> jr): an MR-row panel of A stays in L1
    while the whole packed B block streams past it from the L2 (so the caller sizes KC x NC for
    the L2), and C is walked along its rows; by default the KC x NR panel of B is the one kept in
    L1 while the A block streams past it (jr -> ir)."""
    b_at, c_at = "jr", "C"
    if images:
        if a_panel_outer:
            raise ValueError("blocked_loops: the images loop runs only with the B panel outer (jr -> ir)")
        b_at, c_at = "(img * ((nc + nr - 1) / nr * nr) + jr)", f"C + img * {images[1]}"
    b_loop = (f"for (long jr = 0; jr < nc; jr += nr) {{\n"
              f"    const long n = nc - jr < nr ? nc - jr : nr;\n"
              f"    const {panel_t} *bp = packB + {b_at} * {b_stride or k_stride};")
    a_loop = (f"for (int ir = 0; ir < mc; ir += MR) {{\n"
              f"    const int m = mc - ir < MR ? mc - ir : MR;\n"
              f"    const {panel_t} *ap = packA + (long)ir * {k_stride};")
    outer, inner = (a_loop, b_loop) if a_panel_outer else (b_loop, a_loop)
    tiles = f"""{textwrap.indent(outer, " " * 16)}
{textwrap.indent(inner, " " * 20)}
                        out_t *cp = {c_at} + (long)(ic + ir) * ldc + jc + jr;
                        if (m == MR && n == nr) {{
                            {full_tile}
{row_edge}                        }} else {{
                            {edge_tile or f"ukernel({k_call}, ap, bp, ctile, nr, 0);"}
                            for (int i = 0; i < m; i++)
{edge_pragma}                                for (long j = 0; j < n; j++)
                                    cp[(long)i * ldc + j] = {edge_add};
                        }}
                    }}
                }}"""
    if images:
        tiles = (f"                for (int img = 0; img < {images[0]}; img++) {{   /* each problem's tiles with this A block */\n"
                 + textwrap.indent(tiles, "    ") + "\n                }")
    return f"""    long nc_blk = (NC / nr) * nr;
    if (nc_blk < nr) nc_blk = nr;
    for (long jc = 0; jc < N; jc += nc_blk) {{
        const int nc = (int)(N - jc < nc_blk ? N - jc : nc_blk);
        for (int pc = 0; pc < K; pc += KC) {{
            const int kc = K - pc < KC ? K - pc : KC;
{k_groups}            const int acc = pc > 0;
            {pack_b}
            for (int ic = 0; ic < M; ic += MC_BLK) {{
                const int mc = M - ic < MC_BLK ? M - ic : MC_BLK;
                pack_A(mc, kc, A + (long)ic * lda + pc, lda, packA);
{tiles}
            }}
        }}
    }}
"""
