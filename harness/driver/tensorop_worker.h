/* tensorop timing worker (harness-owned): the kernel runs in a child process, the clock and the
 * samples stay in the parent, where the kernel cannot reach them.
 *
 * A kernel shares its process's address space, so anything the timing code keeps in that process
 * (the samples, the start time, the loop counters) is within its reach, even with no library or
 * system call at all (by following pointers from its stack frame). So the driver forks:
 *   - the parent (never runs kernel code) prepares fresh inputs in shared memory, poisons the
 *     outputs, reads the clock, sends "go" down a pipe, waits for "done", reads the clock again,
 *     then verifies every output itself (Freivalds) and keeps the samples in its private memory;
 *   - the worker (the child) has only the two pipe ends open (stdout/stderr go to /dev/null),
 *     dies with the parent, and installs a seccomp filter that allows only reading and writing
 *     its pipes, memory management and exit: no fork, no exec, no files, no sockets, no kill,
 *     no ptrace. It runs the calls the parent asks for and answers "done".
 * The parent is not dumpable (PR_SET_DUMPABLE 0, set by the driver's main), so no worker can read
 * or write its memory through /proc/<pid>/mem or ptrace, even where seccomp is unavailable.
 * The pipe round trip (measured with empty samples, its median subtracted) is a few
 * microseconds against samples of >= 2 ms. Where seccomp is unavailable (an old kernel, qemu-user)
 * the worker runs without it and the record says so.
 */
#ifndef TENSOROP_WORKER_H
#define TENSOROP_WORKER_H

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#endif

#define WORKER_MAX_CALLS 64

typedef struct {
    int which;                       /* which kernel (0 or 1) */
    int ncalls;                      /* calls in this sample (0: an empty round trip) */
    int sets[WORKER_MAX_CALLS];      /* the buffer set of each call */
} worker_plan;

typedef struct {
    pid_t pid;
    int go_w, done_r;                /* the parent's pipe ends */
    worker_plan *plan;               /* shared with the worker (it may scribble on it: the parent
                                        keeps its own copy and verifies every output) */
    int seccomp;                     /* 1 if the worker's filter is in place (reported by it) */
    int paused;                      /* stopped by worker_pause */
} worker;

/* Memory shared with the worker (inputs and outputs live here). */
static void *shared_alloc(size_t bytes)
{
    size_t len = (bytes + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, len ? len : 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void shared_free(void *p, size_t bytes)
{
    if (p) munmap(p, (bytes + 4095) & ~(size_t)4095);
}

/* Only reading and writing open descriptors, memory management (and its NUMA policy), the clock,
   yielding, asking for its own ids, waking its own futexes (FUTEX_WAKE_PRIVATE) and exit. No fork,
   exec, open, socket, kill, ptrace. With
   `threads` > 1 (the task allows threads), also what pthreads/OpenMP need: clone with CLONE_THREAD
   only (a new thread, never a new process; clone3 answers ENOSYS so libc falls back to clone),
   futexes, robust lists, rseq, signal masks, affinity queries and resource limits. */
#if defined(__linux__) && defined(SECCOMP_MODE_FILTER) && \
    (defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64))
#define TENSOROP_WORKER_FILTER 1
#define WORKER_FILTER_MAX 96
/* The worker's filter program into `all` (room for WORKER_FILTER_MAX instructions); returns its
   length. Separate from installing it so a test can read the program of each ISA
   (tests/test_seccomp_tables.py decodes it against the ISA's system call table). */
static unsigned short worker_filter(int threads, struct sock_filter *all)
{
#if defined(__x86_64__)
#define TENSOROP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TENSOROP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define TENSOROP_AUDIT_ARCH AUDIT_ARCH_RISCV64
#endif
#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    /* threads: clone(flags, ...) with CLONE_THREAD set, futex & co. */
    struct sock_filter threaded[] = {
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x00010000 /* CLONE_THREAD */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#ifdef SYS_clone3
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 38 /* ENOSYS */),
#endif
        ALLOW(SYS_futex), ALLOW(SYS_set_robust_list), ALLOW(SYS_rt_sigprocmask), ALLOW(SYS_sched_getaffinity),
        ALLOW(SYS_prlimit64), ALLOW(SYS_getrlimit), ALLOW(SYS_rt_sigaction), ALLOW(SYS_sigaltstack),
#ifdef SYS_rseq
        ALLOW(SYS_rseq),
#endif
    };
    /* one thread: futex(FUTEX_WAKE_PRIVATE) only, the wake that ends a once-only initialiser
       (pthread_once) the first time a library's code path runs (oneDNN's JIT kernel classes);
       a wake of this process's own futexes, with no one to wake, changes nothing */
    struct sock_filter wake[] = {
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 129 /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TENSOROP_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_read), ALLOW(SYS_write), ALLOW(SYS_exit), ALLOW(SYS_exit_group),
        ALLOW(SYS_brk), ALLOW(SYS_mmap), ALLOW(SYS_munmap), ALLOW(SYS_mremap), ALLOW(SYS_madvise),
        ALLOW(SYS_mprotect), ALLOW(SYS_rt_sigreturn), ALLOW(SYS_clock_gettime), ALLOW(SYS_getrandom),
        ALLOW(SYS_close), ALLOW(SYS_fstat), ALLOW(SYS_sched_yield), ALLOW(SYS_getpid), ALLOW(SYS_gettid),
        /* NUMA memory policy: OpenBLAS binds its buffers on first use (harmless) */
        ALLOW(SYS_mbind), ALLOW(SYS_get_mempolicy), ALLOW(SYS_set_mempolicy),
#ifdef SYS_newfstatat
        ALLOW(SYS_newfstatat),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
#undef ALLOW
    /* the program: the base list with the thread rules (or, one thread, the futex-wake rule)
       spliced in before its final "kill" */
    size_t nbase = sizeof f / sizeof f[0] - 1;
    const struct sock_filter *extra = threads > 1 ? threaded : wake;
    size_t nthr = threads > 1 ? sizeof threaded / sizeof threaded[0] : sizeof wake / sizeof wake[0];
    _Static_assert(sizeof f / sizeof f[0] + sizeof threaded / sizeof threaded[0] <= WORKER_FILTER_MAX,
                   "WORKER_FILTER_MAX too small");
    _Static_assert(sizeof wake <= sizeof threaded, "the one-thread rules are the smaller");
    memcpy(all, f, nbase * sizeof f[0]);
    memcpy(all + nbase, extra, nthr * sizeof f[0]);
    all[nbase + nthr] = f[nbase];
    return (unsigned short)(nbase + nthr + 1);
}
#endif

static int worker_seccomp_threads(int threads)
{
#ifdef TENSOROP_WORKER_FILTER
    struct sock_filter all[WORKER_FILTER_MAX];
    struct sock_fprog prog = {worker_filter(threads, all), all};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 0;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
    (void)threads;
    return 0;
#endif
}

/* The threads a task allows (the request's threads=N; set once by the driver before any filter). */
static int tensorop_threads = 1;

static int worker_seccomp(void)
{
    return worker_seccomp_threads(tensorop_threads);
}

/* Memory a worker must not see: unmapped in the worker before it runs any kernel code (the other
   kernel's buffers in a paired run, which the worker inherited when it was forked). */
typedef struct {
    void *p;
    size_t bytes;
} worker_region;

/* The worker: `run(plan, arg)` makes the plan's calls. Never returns. */
static void worker_main(int go_r, int done_w, worker_plan *plan, void (*run)(const worker_plan *, void *),
                        void *arg, const worker_region *forget, int nforget)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    for (int i = 0; i < nforget; i++)
        if (forget[i].p) munmap(forget[i].p, (forget[i].bytes + 4095) & ~(size_t)4095);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 1024; fd++)          /* only the two pipe ends stay open */
        if (fd != go_r && fd != done_w && fd != null) close(fd);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }
    char ok = worker_seccomp() ? 'S' : 's';
    if (write(done_w, &ok, 1) != 1) _exit(1);
    for (;;) {
        char b;
        if (read(go_r, &b, 1) != 1 || b != 'g') _exit(0);
        worker_plan p = *plan;                 /* one read of the shared plan */
        run(&p, arg);
        if (write(done_w, "d", 1) != 1) _exit(1);
    }
}

static int worker_start(worker *w, void (*run)(const worker_plan *, void *), void *arg,
                        const worker_region *forget, int nforget)
{
    int go[2], done[2];
    w->plan = shared_alloc(sizeof(worker_plan));
    if (!w->plan || pipe(go) != 0 || pipe(done) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(go[1]);
        close(done[0]);
        worker_main(go[0], done[1], w->plan, run, arg, forget, nforget);
    }
    close(go[0]);
    close(done[1]);
    w->pid = pid;
    w->go_w = go[1];
    w->done_r = done[0];
    w->paused = 0;
    char ok = 0;
    if (read(w->done_r, &ok, 1) != 1)
        return -1;
    w->seccomp = ok == 'S';
    return 0;
}

/* A paired run keeps the worker that is not being timed stopped (SIGSTOP, confirmed by waitpid),
   so it cannot run on while the other kernel is timed (a kernel that answers "done" and keeps
   spinning would slow its partner). Returns -1 if the worker is gone. */
static int worker_pause(worker *w)
{
    int st = 0;
    if (kill(w->pid, SIGSTOP) != 0 || waitpid(w->pid, &st, WUNTRACED) != w->pid || !WIFSTOPPED(st))
        return -1;
    w->paused = 1;
    return 0;
}

static void worker_resume(worker *w)
{
    if (w->paused) {
        kill(w->pid, SIGCONT);
        w->paused = 0;
    }
}

/* One sample: the calls of `plan`, timed by the parent from "go" to "done". Returns the wall
   time in seconds, or a negative value if the worker died or answered out of turn. */
static double worker_sample(worker *w, const worker_plan *plan, double (*clock_fn)(void))
{
    *w->plan = *plan;
    char b = 'g', d = 0;
    double t0 = clock_fn();
    if (write(w->go_w, &b, 1) != 1)
        return -1.0;
    ssize_t n = read(w->done_r, &d, 1);
    double t1 = clock_fn();
    if (n != 1 || d != 'd')
        return -1.0;
    return t1 - t0;
}

/* Ends the worker; returns its CPU time (seconds) from wait4's rusage, -1 if it died abnormally. */
static double worker_stop(worker *w, int *status)
{
    struct rusage ru;
    char q = 'q';
    worker_resume(w);
    if (write(w->go_w, &q, 1) != 1) { /* already gone */ }
    close(w->go_w);
    close(w->done_r);
    int st = 0;
    if (wait4(w->pid, &st, 0, &ru) < 0)
        return -1.0;
    if (status) *status = st;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

#endif
