/* Shared by the oneDNN baselines (harness-owned, trusted): Debian's libdnnl (oneDNN 2.6, CPU
 * engine, OpenMP). lib_setup (tensorop_lib.h), called by the driver before it forks the timing
 * worker, creates the CPU engine and stream there (oneDNN reads the CPU's features and sets up its
 * OpenMP runtime once; the worker inherits them), pins oneDNN's threads to the task's
 * (omp_set_num_threads), runs one small primitive (oneDNN's one-time set-up: its JIT profiling hook
 * tries to dlopen a library, and once-only initialisers wake futexes; neither is allowed in the
 * worker) and notes the library's version and its ISA (dnnl_get_effective_cpu_isa). A convolution's
 * code is JIT-generated when its primitive is first created, in the worker: memory it maps and makes
 * executable, which the native worker's filter allows. */
#ifndef TENSOROP_ONEDNN_H
#define TENSOROP_ONEDNN_H

#include <dnnl.h>
#include "tensorop_lib.h"

void omp_set_num_threads(int);
int omp_get_max_threads(void);

static dnnl_engine_t dnnl_engine;
static dnnl_stream_t dnnl_stream;
static void onednn_warm_up(void);   /* each oneDNN baseline: create and run one small primitive */

static void lib_setup(int threads)
{
    omp_set_num_threads(threads);
    const dnnl_version_t *v = dnnl_version();
    lib_add("library", "onednn %d.%d.%d", v->major, v->minor, v->patch);
    if (dnnl_engine_create(&dnnl_engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&dnnl_stream, dnnl_engine, dnnl_stream_default_flags) != dnnl_success) {
        lib_add("error", "oneDNN could not create its CPU engine");
        return;
    }
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const char *name = isa == dnnl_cpu_isa_avx512_core_amx ? "avx512_core_amx"
                     : isa == dnnl_cpu_isa_avx512_core_bf16 ? "avx512_core_bf16"
                     : isa == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
                     : isa == dnnl_cpu_isa_avx512_core ? "avx512_core"
                     : isa == dnnl_cpu_isa_avx2 ? "avx2" : "other";
    onednn_warm_up();   /* oneDNN's one-time set-up (its JIT profiling hook looks for a library with
                           open(), once-only initialisers) happens here, not in the worker */
    lib_add("threads", "%d", omp_get_max_threads());
    lib_add("isa", "%s", name);
    if (LIB_CPU_AVX512F() && strncmp(name, "avx512", 6))
        lib_add("error", "oneDNN's ISA is %s on a CPU with AVX-512", name);
    else if (omp_get_max_threads() != threads)
        lib_add("error", "oneDNN runs %d threads, the task allows %d", omp_get_max_threads(), threads);
}

#endif
