/* Where an expert-generated CPU GEMM's time goes at n^3 (benchmarks/gemm_breakdown.py builds and
   runs it): the whole call, its packing alone (the same pack_B / pack_A calls), its micro-kernel
   alone on one A and one B panel that stay in cache (as many calls as the GEMM makes), and the
   micro-kernel walking one packed block's real panels (A from L2, the B panels in turn, C tiles).
   It includes the kernel's source and calls its static pieces, so it knows that template's names. */
#include KERNEL_FILE      /* an expert-generated CPU GEMM (harness/generate/templates/cpu_gemm.py) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1024, reps = 7;
    float *A = aligned_alloc(64, (size_t)n*n*4), *B = aligned_alloc(64, (size_t)n*n*4), *C = aligned_alloc(64, (size_t)n*n*4);
    for (long i = 0; i < (long)n*n; i++) { A[i] = rand()/(float)RAND_MAX - .5f; B[i] = rand()/(float)RAND_MAX - .5f; }
    double flops = 2.0*n*n*n, tf = 1e9, tp = 1e9, tu = 1e9, tun = 1e9;
    for (int r = 0; r < reps; r++) { double t = now(); tensorop_gemm_f32(n,n,n,A,n,B,n,C,n); t = now()-t; if (t < tf) tf = t; }
    /* packing alone: the same pack_B / pack_A calls as gemm_part */
    for (int r = 0; r < reps; r++) {
        double t = now();
        long nc_blk = (NC / NR) * NR;
        for (long jc = 0; jc < n; jc += nc_blk) { int nc = (int)(n - jc < nc_blk ? n - jc : nc_blk);
            for (int pc = 0; pc < n; pc += KC) { int kc = n - pc < KC ? n - pc : KC;
                pack_B(kc, nc, NR, B + (long)pc*n + jc, n, packB_[0]);
                for (int ic = 0; ic < n; ic += MC_BLK) { int mc = n - ic < MC_BLK ? n - ic : MC_BLK;
                    pack_A(mc, kc, A + (long)ic*n + pc, n, packA_[0]); } } }
        t = now()-t; if (t < tp) tp = t; }
    /* micro-kernel alone, hot: one A panel and one B panel, as many calls as the GEMM makes */
    long calls = 0; { long tiles_m = (n + MR - 1)/MR, tiles_n = (n + NR - 1)/NR, kb = (n + KC - 1)/KC; calls = tiles_m*tiles_n*kb; }
    for (int r = 0; r < reps; r++) { double t = now();
        for (long c = 0; c < calls; c++) ukernel(KC, packA_[0], packB_[0], ctile_[0], NR, c & 1);
        t = now()-t; if (t < tu) tu = t; }
    /* micro-kernel walking the real packed panels of one (jc, pc) block: A from L2, B panels in turn */
    for (int r = 0; r < reps; r++) { double t = now(); long done = 0;
        while (done < calls) for (long jr = 0; jr < n && done < calls; jr += NR)
            for (int ir = 0; ir < MC_BLK && done < calls; ir += MR, done++)
                ukernel(KC, packA_[0] + (long)ir*KC, packB_[0] + jr*KC, C + (long)ir*n + jr, n, 1);
        t = now()-t; if (t < tun) tun = t; }
    printf("n=%d MR=%d NR=%d KC=%d MC=%d: whole %.2f ms = %.1f GFLOP/s\n", n, MR, NR, KC, MC, tf*1e3, flops/tf/1e9);
    printf("  packing alone   %.2f ms (%.1f%% of the whole)\n", tp*1e3, 100*tp/tf);
    printf("  ukernel hot     %.2f ms = %.1f GFLOP/s (%ld calls of kc %d; edge tiles as full)\n", tu*1e3, 2.0*MR*NR*KC*calls/tu/1e9, calls, KC);
    printf("  ukernel panels  %.2f ms = %.1f GFLOP/s (A block from L2, B panels in turn, C tiles)\n", tun*1e3, 2.0*MR*NR*KC*calls/tun/1e9);
    return 0;
}
