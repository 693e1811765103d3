/* tensorop QEMU TCG plugin (user mode, plugin API v1, QEMU >= 7.2).
 *
 * Counts the guest instructions executed between a call to the marker function
 * `tensorop_region_begin` and a call to `tensorop_region_end` (both defined by the timing
 * driver), and optionally records the profile of the translation blocks (TBs) executed in
 * those regions, for the cycle model (harness/measure/model/).  Process start-up, input generation
 * and output writing run outside the regions and are not counted.
 *
 * Options (-plugin libtensorop.so,key=value,...):
 *   fd=N        at exit write one JSON line to file descriptor N:
 *                 {"tensorop":"plugin","regions":R,"insns":TOTAL,"insns_last":LAST,"blocks":B,
 *                  "forged":F,"outside":O,"syscalls":S,"syscall_first":NUM,"arch":"riscv64"}
 *               without fd=, print the legacy stderr line
 *                 tensorop-insns: <regions> <total-insns-in-regions> <insns-in-last-region>
 *   blocks=N    at exit write the TB profile of all regions to file descriptor N (opened by the
 *               harness before the run: nothing the guest can name or replace by path):
 *                 # tensorop-blocks v1 arch=<target> regions=<R> insns=<TOTAL>
 *                 <vaddr-hex> <vstate> <count> <n-insns> <insn-bytes-hex>
 *               one line per (block, vector state at block entry) executed in a region.
 *               vstate: RVV "e<SEW>m<LMUL>" / "e<SEW>mf<1/LMUL>" (the vtype set by the last
 *               vsetvli/vsetivli executed, decoded from its immediate at translation time),
 *               "unknown" after a register-form vsetvl, "none" before any; "-" on other targets.
 *               After the blocks: `e FROM FROM-VSTATE TO TO-VSTATE COUNT` lines (which block ran
 *               next inside a region, how often), `f VADDR LOADS` (the block's loads that read
 *               what one of the last 128 stores, within 2048 instructions, wrote: a dependency through
 *               memory; only with l1=,
 *               said by the header's fwd=1) and `o VADDR COUNT` (edges beyond the 8 kept per block).
 *   begin=ADDR, end=ADDR   the guest addresses (hex) of the driver's marker functions
 *               tensorop_region_begin / tensorop_region_end, read by the harness from the linked
 *               binary (a section of the driver's own, which no kernel object may contain). A
 *               marker counts only at that address, never by symbol name.
 *   caller=LO-HI  the address range of the driver code allowed to call the markers (its
 *               profiling function): the block executed just before a marker must start there,
 *               else the call is counted as `forged` and ignored.
 *   kernel=LO-HI  the address range of the kernel's code (repeatable): a block there executed
 *               outside a counted region is counted as `outside` (the kernel's work must all be
 *               inside the counted call).
 * From the first region to the end of the run, mmap/mprotect/mremap/munmap/madvise follow the rules
 * below (the driver makes no such call after the region: it writes its outputs and _exits).
 * Inside a region the only system calls allowed are brk, mmap without PROT_EXEC or a fixed
 * address, munmap/mremap/mprotect/madvise of memory an mmap of the region returned (never the
 * program's image, a library or the GOT), the NUMA policy, getrandom, the clock, yielding and the
 * caller's own ids (no I/O of any kind); any other is counted in `syscalls`
 * (qemu-user cannot apply the driver's seccomp filter, so the plugin watches instead).
 * The guest shares the process's descriptor table: the plugin notes which files fd= and blocks=
 * are when it is installed, and at exit refuses to write anywhere else (a guest that closed or
 * replaced them, or made a write fail) by ending the process with status 125: the run fails,
 * and nothing the guest wrote on the channel in the plugin's place is taken.
 * Overhead: one TB-exec callback per executed block (udata = the block's record, counters
 * per vector state and per successor), plus an instruction callback on vsetvl{i} instructions
 * only, and with l1= a memory callback per access (cache simulation, store window).
 * The driver is single-threaded, so no locking.
 * Built by `make -C qemu` against the qemu-plugin.h of Debian's qemu source package.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <qemu-plugin.h>
#include "cache_sim.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define VT_NONE    0xFFFFFFFFu   /* no vsetvl executed yet */
#define VT_UNKNOWN 0xFFFFFFFEu   /* register-form vsetvl: value not known at translation */
#define MAX_STATES 8
#define MAX_SUCC 8               /* successor edges kept per block (more are counted in succ_overflow) */

struct tb_edge {
    struct tb_rec *to;
    uint32_t from_state, to_state;   /* indices into the blocks' vstate[] */
    uint64_t count;
};

struct tb_rec {
    uint64_t vaddr;
    uint32_t n_insns;
    uint32_t n_bytes;
    unsigned char *bytes;
    uint32_t n_states;
    uint32_t vstate[MAX_STATES];
    uint64_t count[MAX_STATES];
    uint64_t overflow;           /* executions with a state beyond MAX_STATES (counted as unknown) */
    uint32_t n_succ;
    struct tb_edge succ[MAX_SUCC];   /* which block ran next, how often (inside the regions) */
    uint64_t succ_overflow;
    uint64_t fwd;                /* loads that read what a store of the last STORE_WINDOW stores wrote */
    uint64_t fwd_near;           /* ... of those, the store ran at most NEAR_INSNS instructions before */
    int in_caller;               /* the block starts in the driver code allowed to call the markers */
    int in_kernel;               /* the block overlaps the kernel's code */
    struct tb_rec *next;
};

static int counting;             /* 1 while inside a region */
static int caches;               /* 1 when l1= is given: simulate the memory hierarchy */
static int armed;                /* 1 from the first region on, to the end of the run */
static uint64_t total, current, regions, last;
static uint32_t vtype = VT_NONE;
static int is_riscv, is_x86;
static int out_fd = -1, blocks_fd = -1;
static struct stat out_st, blocks_st;
static struct tb_rec *all_tbs;
static const char *target = "";
/* The markers count only at the driver's marker addresses, called from the driver's profiling
 * function (the block executed just before a marker must start in `caller`). A kernel that calls
 * a marker itself is ignored and reported as `forged`. */
static uint64_t begin_addr, end_addr, caller_lo, caller_hi;
#define MAX_KERNEL_RANGES 8
static uint64_t kernel_lo[MAX_KERNEL_RANGES], kernel_hi[MAX_KERNEL_RANGES];
static int n_kernel;
static int prev_in_caller, cur_in_caller;
static uint64_t forged, outside, bad_syscalls;
static int64_t first_bad_syscall = -1;

/* The block that ran last inside the region (and its state index), for the edge counts. */
static struct tb_rec *prev_rec, *cur_rec;
static uint32_t prev_state;
static uint64_t insn_clock = 1u << 20;     /* instructions executed, at block starts (the store window's clock) */

static void count_edge(struct tb_rec *from, uint32_t fs, struct tb_rec *to, uint32_t ts)
{
    for (uint32_t i = 0; i < from->n_succ; i++) {
        struct tb_edge *e = &from->succ[i];
        if (e->to == to && e->from_state == fs && e->to_state == ts) {
            e->count++;
            return;
        }
    }
    if (from->n_succ < MAX_SUCC) {
        from->succ[from->n_succ++] = (struct tb_edge){to, fs, ts, 1};
    } else {
        from->succ_overflow++;
    }
}

static void tb_exec(unsigned int vcpu_index, void *udata)
{
    struct tb_rec *r = udata;
    prev_in_caller = cur_in_caller;
    cur_in_caller = r->in_caller;
    cur_rec = r;
    insn_clock += r->n_insns;
    if (!counting) {
        if (r->in_kernel) {
            outside++;
        }
        return;
    }
    current += r->n_insns;
    if (blocks_fd < 0) {
        return;
    }
    uint32_t vs = is_riscv ? vtype : VT_NONE, si = MAX_STATES;
    for (uint32_t i = 0; i < r->n_states; i++) {
        if (r->vstate[i] == vs) {
            si = i;
            break;
        }
    }
    if (si == MAX_STATES && r->n_states < MAX_STATES) {
        si = r->n_states++;
        r->vstate[si] = vs;
    }
    if (si < MAX_STATES) {
        r->count[si]++;
    } else {
        r->overflow++;
    }
    if (prev_rec && si < MAX_STATES && prev_state < MAX_STATES) {
        count_edge(prev_rec, prev_state, r, si);
    }
    prev_rec = r;
    prev_state = si;
}

static void set_vtype(unsigned int vcpu_index, void *udata)
{
    vtype = (uint32_t)(uintptr_t)udata;
}

static void region_begin(unsigned int vcpu_index, void *udata)
{
    if (!prev_in_caller) {
        forged++;
        return;
    }
    cs_drain();                          /* the driver's stores are not the kernel's: they commit
                                          * before the region (a `rep movsb` of its inputs is one
                                          * store buffer entry that would otherwise commit, and
                                          * bring its lines in, inside the region) */
    counting = 1;
    cs_counting_ref = 1;
    armed = 1;
    current = 0;
    prev_rec = NULL;                     /* no edge from outside the region into it */
}

static void region_end(unsigned int vcpu_index, void *udata)
{
    if (!prev_in_caller) {
        forged++;
        return;
    }
    if (counting) {
        cs_drain();                      /* the region's stores commit inside it */
        counting = 0;
        cs_counting_ref = 0;
        total += current;
        last = current;
        regions++;
    }
}

/* System calls a kernel may make inside the counted call: what the worker's seccomp filter allows
 * (harness/driver/tensorop_worker.h) less any I/O, and memory management only of memory the
 * kernel mapped itself inside the region. mmap: never PROT_EXEC, never at a fixed address; munmap,
 * mremap (never to a fixed address), mprotect (never PROT_EXEC) and madvise only within a range an
 * mmap (or mremap) of this region returned: a kernel cannot move, unmap, remap or unprotect the
 * program's image, a library's code or the read-only GOT (red team 3b moved code out of the
 * kernel's range with mremap and made the GOT writable with mprotect). brk, the NUMA policy
 * (OpenBLAS binds its buffers on first use), getrandom, the clock, yielding and its own ids are
 * allowed. Numbers of the generic table (riscv64, aarch64) and of x86_64. */
enum { SC_OTHER, SC_OK, SC_MMAP, SC_MUNMAP, SC_MREMAP, SC_MPROTECT, SC_MADVISE };

static int syscall_kind(int64_t num)
{
    if (is_x86) {
        switch (num) {
        case 9: return SC_MMAP;
        case 10: return SC_MPROTECT;
        case 11: return SC_MUNMAP;
        case 25: return SC_MREMAP;
        case 28: return SC_MADVISE;
        case 12:                                                 /* brk */
        case 237: case 238: case 239:                            /* mbind set_mempolicy get_mempolicy */
        case 318: case 228: case 24: case 39: case 186:          /* getrandom clock_gettime sched_yield getpid gettid */
            return SC_OK;
        default: return SC_OTHER;
        }
    }
    switch (num) {
    case 222: return SC_MMAP;
    case 226: return SC_MPROTECT;
    case 215: return SC_MUNMAP;
    case 216: return SC_MREMAP;
    case 233: return SC_MADVISE;
    case 214:                                                    /* brk */
    case 235: case 236: case 237:                                /* mbind get_mempolicy set_mempolicy */
    case 278: case 113: case 124: case 172: case 178:            /* getrandom clock_gettime sched_yield getpid gettid */
        return SC_OK;
    default: return SC_OTHER;
    }
}

#define MAX_OWNED 4096
static uint64_t owned_lo[MAX_OWNED], owned_hi[MAX_OWNED];
static int n_owned;
static int pending_kind;                 /* the allowed mmap/mremap awaiting its return value */
static uint64_t pending_len, pending_old, pending_old_len;

static int owned(uint64_t lo, uint64_t len)
{
    uint64_t hi = lo + len;
    if (hi < lo) return 0;
    for (int i = 0; i < n_owned; i++)
        if (lo >= owned_lo[i] && hi <= owned_hi[i]) return 1;
    return 0;
}

static void own(uint64_t lo, uint64_t len)
{
    if (n_owned < MAX_OWNED) {
        owned_lo[n_owned] = lo;
        owned_hi[n_owned] = lo + len;
        n_owned++;
    }
}

static void disown(uint64_t lo, uint64_t len)
{
    for (int i = 0; i < n_owned; i++)
        if (owned_lo[i] == lo && owned_hi[i] == lo + len) {
            owned_lo[i] = owned_lo[--n_owned];
            owned_hi[i] = owned_hi[n_owned];
            return;
        }
}

static int syscall_allowed(int64_t num, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    const uint64_t PROT_EXEC_ = 4, MAP_FIXED_ = 0x10, MAP_FIXED_NOREPLACE_ = 0x100000;
    const uint64_t MREMAP_FIXED_ = 2, MREMAP_DONTUNMAP_ = 4;
    pending_kind = SC_OTHER;
    switch (syscall_kind(num)) {
    case SC_OK: return 1;
    case SC_MMAP:
        if ((a3 & PROT_EXEC_) || (a4 & (MAP_FIXED_ | MAP_FIXED_NOREPLACE_))) return 0;
        pending_kind = SC_MMAP;
        pending_len = a2;
        return 1;
    case SC_MUNMAP:
        if (!owned(a1, a2)) return 0;
        disown(a1, a2);
        return 1;
    case SC_MREMAP:
        if ((a4 & (MREMAP_FIXED_ | MREMAP_DONTUNMAP_)) || !owned(a1, a2)) return 0;
        pending_kind = SC_MREMAP;
        pending_old = a1;
        pending_old_len = a2;
        pending_len = a3;
        return 1;
    case SC_MPROTECT: return !(a3 & PROT_EXEC_) && owned(a1, a2);
    case SC_MADVISE: return owned(a1, a2);
    default: return 0;
    }
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7,
                       uint64_t a8)
{
    if (!armed) {
        pending_kind = SC_OTHER;
        return;
    }
    /* inside the counted call every rule; after it (the driver writes its outputs, then _exits)
       the memory rules still hold, so nothing the kernel armed (an exit handler, a hijacked return)
       can make memory executable or move code and run it after the count (red team 3c) */
    if (counting ? syscall_allowed(num, a1, a2, a3, a4, a5)
                 : (syscall_kind(num) == SC_OK || syscall_kind(num) == SC_OTHER ||
                    syscall_allowed(num, a1, a2, a3, a4, a5))) {
        return;
    }
    if (first_bad_syscall < 0) {
        first_bad_syscall = num;
    }
    bad_syscalls++;
}

/* The address an allowed mmap/mremap of the region returned: memory the kernel may manage. */
static void on_syscall_ret(qemu_plugin_id_t id, unsigned int vcpu_idx, int64_t num, int64_t ret)
{
    int kind = pending_kind;
    pending_kind = SC_OTHER;
    if (ret < 0 && ret > -4096) return;          /* an error: nothing was mapped or moved */
    if (kind == SC_MMAP) {
        own((uint64_t)ret, pending_len);
    } else if (kind == SC_MREMAP) {
        disown(pending_old, pending_old_len);
        own((uint64_t)ret, pending_len);
    }
}

static int in_ranges(uint64_t lo, uint64_t hi, const uint64_t *los, const uint64_t *his, int n)
{
    for (int i = 0; i < n; i++) {
        if (lo < his[i] && hi > los[i]) {
            return 1;
        }
    }
    return 0;
}

/* RVV vsetvli / vsetivli / vsetvl: OP-V major opcode (0x57) with funct3 = 0b111.
 * Returns 1 and the vtype (or VT_UNKNOWN for the register form) if `w` is one. */
static int rvv_vset(uint32_t w, uint32_t *vt)
{
    if ((w & 0x7f) != 0x57 || ((w >> 12) & 7) != 7) {
        return 0;
    }
    if ((w >> 31) == 0) {                 /* vsetvli: zimm[10:0] = bits 30:20 */
        *vt = (w >> 20) & 0x7ff;
    } else if ((w >> 30) == 3) {          /* vsetivli: zimm[9:0] = bits 29:20 */
        *vt = (w >> 20) & 0x3ff;
    } else {                              /* vsetvl rd, rs1, rs2: vtype in a register */
        *vt = VT_UNKNOWN;
    }
    return 1;
}

/* Store-to-load dependencies through memory, which llvm-mca does not see (it assumes loads and
 * stores never alias): a load that reads a 4-byte granule written by one of the last STORE_WINDOW
 * store instructions, issued less than STORE_INSNS instructions before (more than any modelled core's store
 * buffer and reorder buffer hold: an older store has retired before the load could enter the
 * window, and llvm-mca's own in-order retirement charges that), is counted in its block's `fwd`.
 * A direct-mapped table of the granules stored last; a slot whose live entry was displaced by
 * another granule counts every load that maps to it while the displaced store is live (a
 * collision can only make the count larger, never hide a dependency). The instruction clock
 * advances per block, so distances are measured between block starts (hence the margin). */
#define STORE_WINDOW 128u
#define STORE_INSNS 2048u
#define NEAR_INSNS 64u
#define SW_SLOTS 4096u
static struct { uint64_t gran, seq, clock, lost_seq, lost_clock; } sw[SW_SLOTS];
static uint64_t store_seq = STORE_WINDOW + 1;

static inline uint32_t sw_slot(uint64_t g)
{
    return (uint32_t)((g ^ (g >> 12)) & (SW_SLOTS - 1));
}

static inline int live(uint64_t seq, uint64_t clock)
{
    return seq && store_seq - seq <= STORE_WINDOW && insn_clock - clock <= STORE_INSNS;
}

/* The store instruction last seen (its address and the instruction clock of its block's run): the
 * window counts store instructions, not QEMU's accesses (a masked or scattered vector store, run by
 * a helper, reaches the plugin as one access per element: counting those would let a handful of
 * instructions push a store out of the window; red team, this stop). */
static uint64_t last_store_pc = UINT64_MAX, last_store_clock;

static void watch_forwarding(uint64_t pc, uint64_t vaddr, unsigned size, int is_store)
{
    uint64_t g0 = vaddr >> 2, g1 = (vaddr + (size ? size : 1) - 1) >> 2;
    if (is_store) {
        if (pc != last_store_pc || insn_clock != last_store_clock) {
            store_seq++;
            last_store_pc = pc;
            last_store_clock = insn_clock;
        }
        for (uint64_t g = g0; g <= g1; g++) {
            uint32_t s = sw_slot(g);
            if (sw[s].gran != g && live(sw[s].seq, sw[s].clock)) {
                sw[s].lost_seq = sw[s].seq;
                sw[s].lost_clock = sw[s].clock;
            }
            sw[s].gran = g;
            sw[s].seq = store_seq;
            sw[s].clock = insn_clock;
        }
        return;
    }
    for (uint64_t g = g0; g <= g1; g++) {
        uint32_t s = sw_slot(g);
        int hit = sw[s].gran == g && live(sw[s].seq, sw[s].clock);
        if (hit || live(sw[s].lost_seq, sw[s].lost_clock)) {
            if (cur_rec) {
                cur_rec->fwd++;
                /* a tight recurrence through memory: the store ran a few instructions before */
                cur_rec->fwd_near += insn_clock - (hit ? sw[s].clock : sw[s].lost_clock) <= NEAR_INSNS;
            }
            return;
        }
    }
}

/* One data access of the instruction at pc; a store counts as part of `store_instance` (one
 * execution of an instruction: the store buffer merges its pieces). */
static void mem_event(uint64_t pc, uint64_t store_instance, qemu_plugin_meminfo_t info, uint64_t vaddr)
{
    unsigned size = 1u << qemu_plugin_mem_size_shift(info);
    int is_store = qemu_plugin_mem_is_store(info);
    cs_now = insn_clock;
    cs_access(pc, is_store ? store_instance : insn_clock, vaddr, size, is_store);
    if (counting && blocks_fd >= 0) {
        watch_forwarding(pc, vaddr, size, is_store);
    }
}

static void on_mem(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    mem_event((uint64_t)(uintptr_t)udata, insn_clock, info, vaddr);
}

/* An x86 rep-prefixed string instruction (rep movs/stos/lods/cmps/scas, ins/outs): QEMU runs each
 * of its iterations as a block of its own, so each iteration's access would look like another
 * instruction's. */
static int x86_rep_string(const unsigned char *d, size_t n)
{
    int rep = 0;
    size_t i = 0;
    for (; i < n; i++) {
        unsigned char b = d[i];
        if (b == 0xf2 || b == 0xf3) {
            rep = 1;
        } else if (!(b == 0xf0 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65 ||
                     b == 0x66 || b == 0x67)) {
            break;
        }
    }
    if (i < n && (d[i] & 0xf0) == 0x40) {
        i++;                                 /* REX */
    }
    if (!rep || i >= n) {
        return 0;
    }
    unsigned char op = d[i];
    return (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f);
}

/* The run of one rep string instruction: its iterations follow one another one instruction apart.
 * Its stores are one store buffer entry per run (as fast-string hardware writes them in wide
 * chunks), not one per iteration: a cheap `rep stosb` must not push older stores out early. */
static uint64_t rep_pc = UINT64_MAX, rep_clock, rep_instance;

static void on_mem_rep(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    uint64_t pc = (uint64_t)(uintptr_t)udata;
    if (pc != rep_pc || insn_clock > rep_clock + 1) {
        rep_pc = pc;
        rep_instance = insn_clock;
    }
    rep_clock = insn_clock;
    mem_event(pc, rep_instance, info, vaddr);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct tb_rec *r = calloc(1, sizeof(*r));
    if (!r) {
        return;
    }
    r->vaddr = qemu_plugin_tb_vaddr(tb);
    r->n_insns = (uint32_t)n;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        cap += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    }
    r->bytes = blocks_fd >= 0 ? malloc(cap ? cap : 1) : NULL;
    r->in_caller = caller_hi > caller_lo && r->vaddr >= caller_lo && r->vaddr < caller_hi;
    r->in_kernel = in_ranges(r->vaddr, r->vaddr + (cap ? cap : 1), kernel_lo, kernel_hi, n_kernel);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t sz = qemu_plugin_insn_size(insn);
        const unsigned char *data = qemu_plugin_insn_data(insn);
        if (r->bytes) {
            memcpy(r->bytes + r->n_bytes, data, sz);
            r->n_bytes += (uint32_t)sz;
        }
        if (is_riscv && sz == 4) {
            uint32_t w = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                         (uint32_t)data[3] << 24, vt;
            if (rvv_vset(w, &vt)) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, set_vtype, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)vt);
            }
        }
        /* the markers: by address only (a kernel may define functions of the same name) */
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (caches) {
            qemu_plugin_register_vcpu_mem_cb(insn, is_x86 && x86_rep_string(data, sz) ? on_mem_rep : on_mem,
                                             QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, (void *)(uintptr_t)va);
        }
        if (begin_addr && va == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, region_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (end_addr && va == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, region_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
    r->next = all_tbs;
    all_tbs = r;
    /* The TB callback is registered before the instruction callbacks above in the generated
     * code's order of execution, so it sees the vtype in force when the block starts. */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, r);
}

static void vstate_str(uint32_t vt, char *buf, size_t len)
{
    if (!is_riscv) {
        snprintf(buf, len, "-");
    } else if (vt == VT_NONE) {
        snprintf(buf, len, "none");
    } else if (vt == VT_UNKNOWN) {
        snprintf(buf, len, "unknown");
    } else {
        unsigned sew = 8u << ((vt >> 3) & 7), lmul = vt & 7;
        if (((vt >> 3) & 7) > 3 || lmul == 4) {
            snprintf(buf, len, "unknown");        /* reserved encodings (vill) */
        } else if (lmul < 4) {
            snprintf(buf, len, "e%um%u", sew, 1u << lmul);
        } else {
            snprintf(buf, len, "e%umf%u", sew, 1u << (8 - lmul));
        }
    }
}

static void refuse(const char *what)
{
    fprintf(stderr, "tensorop plugin: %s; the run's records cannot be trusted\n", what);
    _exit(125);
}

static void check_same_file(int fd, const struct stat *was, const char *name)
{
    struct stat now;
    if (fstat(fd, &now) != 0 || now.st_dev != was->st_dev || now.st_ino != was->st_ino) {
        refuse(name);
    }
}

static void write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, buf, n);
        if (k <= 0) {
            refuse("a write of its record failed");
        }
        buf += k;
        n -= (size_t)k;
    }
}

static void write_blocks(void)
{
    check_same_file(blocks_fd, &blocks_st, "the block profile's descriptor was closed or replaced");
    FILE *f = fdopen(blocks_fd, "w");
    if (!f) {
        refuse("cannot write the block profile");
    }
    fprintf(f, "# tensorop-blocks v1 arch=%s regions=%" PRIu64 " insns=%" PRIu64 " edges=1 fwd=%d\n",
            target, regions, total, caches);
    char vs[32], vs2[32];
    for (struct tb_rec *r = all_tbs; r; r = r->next) {
        for (uint32_t i = 0; i <= r->n_states; i++) {
            uint64_t c = i < r->n_states ? r->count[i] : r->overflow;
            if (!c) {
                continue;
            }
            vstate_str(i < r->n_states ? r->vstate[i] : VT_UNKNOWN, vs, sizeof vs);
            fprintf(f, "%" PRIx64 " %s %" PRIu64 " %u ", r->vaddr, vs, c, r->n_insns);
            for (uint32_t b = 0; b < r->n_bytes; b++) {
                fprintf(f, "%02x", r->bytes[b]);
            }
            fputc('\n', f);
        }
    }
    /* e <from-vaddr> <from-vstate> <to-vaddr> <to-vstate> <count>: which block ran next
       f <vaddr> <loads>: loads that read a location one of the last STORE_WINDOW stores wrote
       n <vaddr> <loads>: of those, the ones whose store ran at most NEAR_INSNS instructions before
       o <vaddr> <count>: successor edges beyond MAX_SUCC, not listed */
    for (struct tb_rec *r = all_tbs; r; r = r->next) {
        for (uint32_t i = 0; i < r->n_succ; i++) {
            const struct tb_edge *e = &r->succ[i];
            vstate_str(r->vstate[e->from_state], vs, sizeof vs);
            vstate_str(e->to->vstate[e->to_state], vs2, sizeof vs2);
            fprintf(f, "e %" PRIx64 " %s %" PRIx64 " %s %" PRIu64 "\n", r->vaddr, vs, e->to->vaddr, vs2, e->count);
        }
        if (r->fwd) {
            fprintf(f, "f %" PRIx64 " %" PRIu64 "\n", r->vaddr, r->fwd);
        }
        if (r->fwd_near) {
            fprintf(f, "n %" PRIx64 " %" PRIu64 "\n", r->vaddr, r->fwd_near);
        }
        if (r->succ_overflow) {
            fprintf(f, "o %" PRIx64 " %" PRIu64 "\n", r->vaddr, r->succ_overflow);
        }
    }
    if (ferror(f) || fclose(f) != 0) {
        refuse("a write of the block profile failed");
    }
}

static uint64_t n_blocks(void)
{
    uint64_t b = 0;
    for (struct tb_rec *r = all_tbs; r; r = r->next) {
        for (uint32_t i = 0; i < r->n_states; i++) {
            b += r->count[i] != 0;
        }
    }
    return b;
}

static void plugin_exit(qemu_plugin_id_t id, void *p)
{
    if (blocks_fd >= 0) {
        write_blocks();
    }
    if (out_fd >= 0) {
        static char line[16384], mem[15360];
        mem[0] = 0;
        if (caches) {
            int k = snprintf(mem, sizeof mem,
                     ",\"mem\":{\"line\":%u,\"levels\":%d,\"loads\":%" PRIu64 ",\"load_lines\":%" PRIu64
                     ",\"stores\":%" PRIu64 ",\"store_commits\":%" PRIu64
                     ",\"fill\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"wb\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
                     "],\"demand\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"store_demand\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
                     "],\"prefetched\":%" PRIu64 ",\"l1_only\":%" PRIu64 ",\"long\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]}",
                     1u << cs_line_shift, cs_n, cs_st.loads, cs_st.load_lines, cs_st.stores, cs_st.store_commits, cs_st.fill[0], cs_st.fill[1],
                     cs_st.fill[2], cs_st.wb[0], cs_st.wb[1], cs_st.wb[2], cs_st.demand[1], cs_st.demand[2],
                     cs_st.demand[3], cs_st.store_demand[1], cs_st.store_demand[2], cs_st.store_demand[3],
                     cs_st.pf_issued, cs_st.pf_l1_only, cs_st.long_misses, cs_st.long_groups[0], cs_st.long_groups[1]);
            /* the late uses of prefetched lines: [found at, came from, bucket, count] where nonzero
             * (2 x 3 x CS_LATE_BUCKETS entries at most, some 20 bytes each: they fit) */
            const char *sep = "";
            k--;                                              /* reopen the closing brace */
            k += snprintf(mem + k, sizeof mem - (size_t)k, ",\"late\":[");
            for (int at = 0; at < 2; at++) {
                for (int src = 1; src <= CS_LEVELS; src++) {
                    for (int b = 0; b < CS_LATE_BUCKETS; b++) {
                        if (cs_st.late[at][src][b] && k < (int)sizeof mem - 64) {
                            k += snprintf(mem + k, sizeof mem - (size_t)k, "%s[%d,%d,%d,%" PRIu64 "]", sep, at, src, b,
                                          cs_st.late[at][src][b]);
                            sep = ",";
                        }
                    }
                }
            }
            snprintf(mem + k, sizeof mem - (size_t)k, "]}");
        }
        int k = snprintf(line, sizeof line,
                         "{\"tensorop\":\"plugin\",\"regions\":%" PRIu64 ",\"insns\":%" PRIu64
                         ",\"insns_last\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"forged\":%" PRIu64
                         ",\"outside\":%" PRIu64 ",\"syscalls\":%" PRIu64 ",\"syscall_first\":%" PRId64
                         ",\"arch\":\"%s\"%s}\n",
                         regions, total, last, n_blocks(), forged, outside, bad_syscalls,
                         first_bad_syscall, target, mem);
        check_same_file(out_fd, &out_st, "the record's descriptor was closed or replaced");
        write_all(out_fd, line, (size_t)(k < (int)sizeof line ? k : (int)sizeof line - 1));
    } else {
        fprintf(stderr, "tensorop-insns: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", regions, total, last);
        fflush(stderr);
    }
}

static int parse_fd(const char *s, int *fd)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1 << 20) {
        return 0;
    }
    *fd = (int)v;
    return 1;
}

/* "ADDR" or "LO-HI", hexadecimal (an optional 0x) */
static int parse_addr(const char *s, uint64_t *lo, uint64_t *hi)
{
    char *end;
    *lo = strtoull(s, &end, 16);
    if (end == s) {
        return 0;
    }
    if (!hi) {
        return *end == 0;
    }
    if (*end != '-') {
        return 0;
    }
    const char *t = end + 1;
    *hi = strtoull(t, &end, 16);
    return end != t && *end == 0 && *hi > *lo;
}

/* l<N>=BYTES:WAYS (a level of the simulated memory hierarchy), line=BYTES */
static uint64_t level_size[CS_LEVELS];
static uint32_t level_ways[CS_LEVELS];

static int parse_level(int i, const char *s)
{
    char *end;
    if (i < 0 || i >= CS_LEVELS) return 0;
    level_size[i] = strtoull(s, &end, 10);
    if (end == s || *end != ':') return 0;
    const char *t = end + 1;
    unsigned long w = strtoul(t, &end, 10);
    if (end == t || *end || w == 0 || w > 64 || level_size[i] == 0) return 0;
    level_ways[i] = (uint32_t)w;
    return 1;
}

static int parse_line(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || v < 16 || v > 512 || (v & (v - 1))) return 0;
    cs_line_shift = (unsigned)__builtin_ctzl(v);
    return 1;
}

static int setup_caches(void)
{
    if (!level_size[0]) {
        return !level_size[1] && !level_size[2];
    }
    for (int i = 0; i < CS_LEVELS && level_size[i]; i++) {
        if (!cs_init_level(i, level_size[i], level_ways[i])) return 0;
        cs_n = i + 1;
    }
    if (cs_n < CS_LEVELS && level_size[cs_n]) return 0;     /* l3= without l2= */
    caches = 1;
    return 1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int ok = 1;
        if (strncmp(a, "fd=", 3) == 0) {
            ok = parse_fd(a + 3, &out_fd);
        } else if (strncmp(a, "blocks=", 7) == 0) {
            ok = parse_fd(a + 7, &blocks_fd);
        } else if (strncmp(a, "begin=", 6) == 0) {
            ok = parse_addr(a + 6, &begin_addr, NULL);
        } else if (strncmp(a, "end=", 4) == 0) {
            ok = parse_addr(a + 4, &end_addr, NULL);
        } else if (strncmp(a, "caller=", 7) == 0) {
            ok = parse_addr(a + 7, &caller_lo, &caller_hi);
        } else if (strncmp(a, "l1=", 3) == 0 || strncmp(a, "l2=", 3) == 0 || strncmp(a, "l3=", 3) == 0) {
            ok = parse_level(a[1] - '1', a + 3);
        } else if (strncmp(a, "line=", 5) == 0) {
            ok = parse_line(a + 5);
        } else if (strncmp(a, "sb=", 3) == 0) {
            char *end;
            unsigned long v = strtoul(a + 3, &end, 10);
            ok = end != a + 3 && !*end && v <= CS_SB_MAX;
            cs_sb_depth = (unsigned)v;
        } else if (strncmp(a, "prefetch=", 9) == 0) {
            ok = (a[9] == '0' || a[9] == '1') && !a[10];
            cs_prefetch = a[9] == '1';
        } else if (strncmp(a, "phys=", 5) == 0) {
            char *end;
            cs_phys_key = strtoull(a + 5, &end, 16);
            ok = end != a + 5 && !*end;
        } else if (strncmp(a, "ipstride=", 9) == 0) {
            char *end;
            long long v = strtoll(a + 9, &end, 10);
            ok = end != a + 9 && !*end && v > 0 && v <= 1 << 20;
            cs_ip_max = v;
        } else if (strncmp(a, "late=", 5) == 0) {
            const char *q = a + 5;
            char *end;
            ok = 1;
            for (int i = 1; i <= CS_LEVELS && ok; i++) {
                long long v = strtoll(q, &end, 10);
                ok = end != q && v >= 0 && v < 1 << 30 && (*end == (i < CS_LEVELS ? ':' : 0));
                cs_late_win[i] = (uint64_t)v;
                q = end + 1;
            }
        } else if (strncmp(a, "stream=", 7) == 0) {
            char *end, *end2 = NULL;
            long v = strtol(a + 7, &end, 10), w = *end == ':' ? strtol(end + 1, &end2, 10) : -1;
            ok = end != a + 7 && *end == ':' && end2 != end + 1 && !*end2 && v >= 1 && v <= 64 && w >= 1 && w <= 64;
            cs_stream_depth = (int)v;
            cs_stream_issue = (int)w;
        } else if (strncmp(a, "rob=", 4) == 0) {
            char *end, *end2 = NULL;
            long long v = strtoll(a + 4, &end, 10), w = *end == ':' ? strtoll(end + 1, &end2, 10) : -1;
            ok = end != a + 4 && *end == ':' && end2 != end + 1 && !*end2 && v >= 1 && v <= 1 << 16 && w >= 1 && w <= 1024;
            cs_rob = (uint64_t)v;
            cs_rob_mlp = (uint64_t)w;
        } else if (strncmp(a, "l1pf=", 5) == 0) {
            ok = (a[5] == '0' || a[5] == '1') && !a[6];
            cs_l1pf_fills_below = a[5] == '1';
        } else if (strncmp(a, "kernel=", 7) == 0) {
            ok = n_kernel < MAX_KERNEL_RANGES && parse_addr(a + 7, &kernel_lo[n_kernel], &kernel_hi[n_kernel]);
            n_kernel += ok;
        } else {
            fprintf(stderr, "tensorop plugin: unknown option %s (known: fd=N, blocks=N, begin=ADDR, end=ADDR, "
                    "caller=LO-HI, kernel=LO-HI, l1=BYTES:WAYS, l2=.., l3=.., line=BYTES, prefetch=0|1, sb=N, phys=HEXKEY, l1pf=0|1, late=W1:W2:W3, ipstride=BYTES, stream=DEPTH:PER_LOOKUP, rob=INSNS:MLP)\n", a);
            return -1;
        }
        if (!ok) {
            fprintf(stderr, "tensorop plugin: bad option %s\n", a);
            return -1;
        }
    }
    if ((out_fd >= 0 && fstat(out_fd, &out_st) != 0) || (blocks_fd >= 0 && fstat(blocks_fd, &blocks_st) != 0)) {
        fprintf(stderr, "tensorop plugin: fd=%d or blocks=%d is not open\n", out_fd, blocks_fd);
        return -1;
    }
    if (!setup_caches()) {
        fprintf(stderr, "tensorop plugin: bad cache geometry (l1= is needed for l2=/l3=; each level's size "
                "a multiple of line x ways)\n");
        return -1;
    }
    target = info->target_name ? strdup(info->target_name) : "";
    is_riscv = strncmp(target, "riscv", 5) == 0;
    is_x86 = strcmp(target, "x86_64") == 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_vcpu_syscall_ret_cb(id, on_syscall_ret);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
