/* Shared by the MKL baselines (harness-owned, trusted): oneMKL from its PyPI wheel
 * (.cache/mkl/<arch>/), linked as mkl_intel_lp64 + mkl_sequential (one thread) or mkl_gnu_thread
 * (more; the harness defines TENSOROP_LIB_THREADS) + mkl_core. lib_setup (tensorop_lib.h), called by
 * the driver before it forks the timing worker, after it asked for the AMX tile permission (MKL
 * picks its path at its first call, and a process without the permission gets the AVX-512 path
 * even on an AMX CPU):
 *   - pins MKL's thread count to the task's (mkl_set_num_threads, MKL_DYNAMIC off),
 *   - makes one small call of each routine the baseline uses, so MKL loads its CPU-specific library
 *     (libmkl_avx512.so.3, ...) with dlopen now, in the driver: the timing worker's seccomp filter
 *     allows no open(), and the worker inherits what is mapped here,
 *   - reads the ISA path MKL dispatched to (mkl_get_version: Processor, the text MKL_VERBOSE prints)
 *     and checks it against the CPU (cpuid): an AVX-512 CPU must get MKL's AVX-512 path, an AMX CPU
 *     its AMX path; otherwise the note says error=... and the harness refuses the result
 *     (device_error).
 * The note says library, version, threading layer, threads, isa and routine. */
#ifndef TENSOROP_MKL_H
#define TENSOROP_MKL_H

#include <stdint.h>
#include "mkl.h"
#include "tensorop_lib.h"

static void mkl_warm_up(void);   /* each MKL baseline: one small call of each routine it uses */

static void lib_setup(int threads)
{
    mkl_set_dynamic(0);
    mkl_set_num_threads(threads);
    mkl_warm_up();
    MKLVersion v;
    mkl_get_version(&v);
    const char *isa = v.Processor ? v.Processor : "?";
    const int avx512 = strstr(isa, "AVX-512") != NULL, amx = strstr(isa, "AMX") != NULL;
    const int amx_cpu = LIB_CPU_AMX_BF16() || LIB_CPU_AMX_INT8();
    lib_add("library", "mkl %d update %d", v.MajorVersion, v.UpdateVersion);
    lib_add("threading", "%s", TENSOROP_LIB_THREADS > 1 ? "gnu" : "sequential");
    lib_add("threads", "%d", mkl_get_max_threads());
    lib_add("isa", "%s", amx ? "avx512+amx" : avx512 ? "avx512" : strstr(isa, "AVX2") ? "avx2" : "other");
    lib_add("isa_text", "%s", isa);
    if (LIB_CPU_AVX512F() && !avx512)
        lib_add("error", "MKL took a path without AVX-512 on a CPU that has it (%s)", isa);
    else if (amx_cpu && !amx)
        lib_add("error", "MKL took a path without AMX on a CPU that has it (%s)", isa);
    else if (mkl_get_max_threads() != threads)
        lib_add("error", "MKL runs %d threads, the task allows %d", mkl_get_max_threads(), threads);
    else if ((threads > 1) != (TENSOROP_LIB_THREADS > 1))
        lib_add("error", "MKL was linked for %d thread(s), the run allows %d", TENSOROP_LIB_THREADS, threads);
}

#endif
