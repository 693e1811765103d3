/* Shared by the library baselines (OpenBLAS, MKL, oneDNN; harness-owned, trusted): the note that
 * says which library path ran, put into the driver's result record ("lib"; "lib_b" for the
 * partner of a paired run) through tensorop_lib_note, which the driver declares weak (a kernel's
 * object may define no global but its ABI function, so only a baseline provides it; a paired build
 * renames the partner's to tensorop_lib_note_b).
 *
 * The driver calls tensorop_lib_init(threads) (the partner's tensorop_lib_init_b) before it forks
 * the timing worker, in every mode but profile: each library's header defines lib_setup, which sets
 * the library up for the task's thread count, makes it load what it loads at run time, and notes
 * what it learnt (lib_add: version, threads, the ISA path it dispatched to).
 *
 * The note is "key=value; key=value": what lib_setup noted and every routine the calls took
 * (lib_routine, from inside the calls). The calls run in the timing worker, a forked process, so
 * the routines are written to a page shared with the driver, mapped before the fork. */
#ifndef TENSOROP_LIB_H
#define TENSOROP_LIB_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#ifndef TENSOROP_LIB_THREADS
#define TENSOROP_LIB_THREADS 1      /* the task's thread count at link time (the harness defines it) */
#endif

enum { LIB_TEXT = 1024, LIB_ROUTINES = 256 };
static char *lib_page;                  /* [0, LIB_TEXT) the library, then the routines */

static void lib_map(void)
{
    if (!lib_page) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        lib_page = p == MAP_FAILED ? NULL : p;
    }
}

/* Appends "key=value" to the library's part of the note (before main). */
static void lib_add(const char *key, const char *fmt, ...)
{
    lib_map();
    if (!lib_page) return;
    size_t n = strlen(lib_page);
    if (n + 4 >= LIB_TEXT) return;
    n += (size_t)snprintf(lib_page + n, LIB_TEXT - n, "%s%s=", n ? "; " : "", key);
    if (n >= LIB_TEXT) { lib_page[LIB_TEXT - 1] = 0; return; }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lib_page + n, LIB_TEXT - n, fmt, ap);
    va_end(ap);
    for (char *c = lib_page; *c; c++)   /* a value never holds the separators */
        if (*c == ';' && c[1] != ' ') *c = ',';
}

/* Records that a call took `routine` (in the worker: no system call, a few bytes of shared memory). */
static void lib_routine(const char *routine)
{
    if (!lib_page) return;
    char *r = lib_page + LIB_TEXT;
    size_t len = strlen(routine), n = strnlen(r, LIB_ROUTINES);
    for (const char *p = r; p < r + n; ) {          /* already listed */
        const char *e = memchr(p, ',', (size_t)(r + n - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(r + n - p);
        if (l == len && !memcmp(p, routine, len)) return;
        p += l + 1;
    }
    if (n + len + 2 >= LIB_ROUTINES) return;
    if (n) r[n++] = ',';
    memcpy(r + n, routine, len);
    r[n + len] = 0;
}

static void lib_setup(int threads);    /* the library's header defines it */

void tensorop_lib_init(int threads)
{
    lib_map();
    lib_setup(threads);
}

const char *tensorop_lib_note(void)
{
    static char note[LIB_TEXT + LIB_ROUTINES + 16];
    if (!lib_page) return "";
    char routines[LIB_ROUTINES + 1];
    memcpy(routines, lib_page + LIB_TEXT, LIB_ROUTINES);  /* the worker may still write: a copy */
    routines[LIB_ROUTINES] = 0;
    snprintf(note, sizeof note, "%.*s; routine=%s", LIB_TEXT - 1, lib_page, routines[0] ? routines : "none");
    return note;
}

/* CPU features (cpuid; x86 only) the ISA check compares with the library's own report. */
#if defined(__x86_64__)
#include <cpuid.h>
static int lib_cpu_has(int leaf7_reg, int bit)   /* leaf 7 subleaf 0: 1 = ebx, 2 = ecx, 3 = edx */
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    unsigned r = leaf7_reg == 1 ? b : leaf7_reg == 2 ? c : d;
    return (int)((r >> bit) & 1);
}
#define LIB_CPU_AVX512F() lib_cpu_has(1, 16)
#define LIB_CPU_AMX_BF16() lib_cpu_has(3, 22)
#define LIB_CPU_AMX_INT8() lib_cpu_has(3, 25)
#else
#define LIB_CPU_AVX512F() 0
#define LIB_CPU_AMX_BF16() 0
#define LIB_CPU_AMX_INT8() 0
#endif

#endif
