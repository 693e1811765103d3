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
 *                 {"tensorop":"plugin","regions":R,"insns":TOTAL,"insns_last":LAST,
 *                  "blocks":B,"arch":"riscv64"}
 *               without fd=, print the legacy stderr line
 *                 tensorop-insns: <regions> <total-insns-in-regions> <insns-in-last-region>
 *   blocks=FILE at exit write the TB profile of all regions to FILE (relative to the cwd):
 *                 # tensorop-blocks v1 arch=<target> regions=<R> insns=<TOTAL>
 *                 <vaddr-hex> <vstate> <count> <n-insns> <insn-bytes-hex>
 *               one line per (block, vector state at block entry) executed in a region.
 *               vstate: RVV "e<SEW>m<LMUL>" / "e<SEW>mf<1/LMUL>" (the vtype set by the last
 *               vsetvli/vsetivli executed, decoded from its immediate at translation time),
 *               "unknown" after a register-form vsetvl, "none" before any; "-" on other targets.
 *
 * Overhead: one TB-exec callback per executed block (udata = the block's record, counters
 * per vector state), plus an instruction callback on vsetvl{i} instructions only.
 * The driver is single-threaded, so no locking.
 * Built by `make -C qemu` against the qemu-plugin.h of Debian's qemu source package.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define VT_NONE    0xFFFFFFFFu   /* no vsetvl executed yet */
#define VT_UNKNOWN 0xFFFFFFFEu   /* register-form vsetvl: value not known at translation */
#define MAX_STATES 8

struct tb_rec {
    uint64_t vaddr;
    uint32_t n_insns;
    uint32_t n_bytes;
    unsigned char *bytes;
    uint32_t n_states;
    uint32_t vstate[MAX_STATES];
    uint64_t count[MAX_STATES];
    uint64_t overflow;           /* executions with a state beyond MAX_STATES (counted as unknown) */
    int in_caller;               /* the block belongs to the driver function allowed to call the markers */
    struct tb_rec *next;
};

static int counting;             /* 1 while inside a region */
static uint64_t total, current, regions, last;
static uint32_t vtype = VT_NONE;
static int is_riscv;
static int out_fd = -1;
static char *blocks_path;
static struct tb_rec *all_tbs;
static const char *target = "";
/* The markers count only when called from the driver's profiling function: the block executed
 * just before a marker must belong to it. A kernel that finds a marker (e.g. by decoding the
 * call at its return address) and calls it itself is ignored and reported as `forged`. */
static const char *caller = "run_profile";
static int prev_in_caller, cur_in_caller;
static uint64_t forged;

static void tb_exec(unsigned int vcpu_index, void *udata)
{
    struct tb_rec *r = udata;
    prev_in_caller = cur_in_caller;
    cur_in_caller = r->in_caller;
    if (!counting) {
        return;
    }
    current += r->n_insns;
    if (!blocks_path) {
        return;
    }
    uint32_t vs = is_riscv ? vtype : VT_NONE;
    for (uint32_t i = 0; i < r->n_states; i++) {
        if (r->vstate[i] == vs) {
            r->count[i]++;
            return;
        }
    }
    if (r->n_states < MAX_STATES) {
        r->vstate[r->n_states] = vs;
        r->count[r->n_states++] = 1;
    } else {
        r->overflow++;
    }
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
    counting = 1;
    current = 0;
}

static void region_end(unsigned int vcpu_index, void *udata)
{
    if (!prev_in_caller) {
        forged++;
        return;
    }
    if (counting) {
        counting = 0;
        total += current;
        last = current;
        regions++;
    }
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
    r->bytes = blocks_path ? malloc(cap ? cap : 1) : NULL;
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
        const char *sym = qemu_plugin_insn_symbol(insn);
        if (!sym) {
            continue;
        }
        if (i == 0 && strcmp(sym, caller) == 0) {
            r->in_caller = 1;
        }
        /* Only the first instruction of the marker functions matters. */
        if (strcmp(sym, "tensorop_region_begin") == 0 && i == 0) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, region_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (strcmp(sym, "tensorop_region_end") == 0 && i == 0) {
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

static void write_blocks(void)
{
    FILE *f = fopen(blocks_path, "w");
    if (!f) {
        fprintf(stderr, "tensorop plugin: cannot write %s\n", blocks_path);
        return;
    }
    fprintf(f, "# tensorop-blocks v1 arch=%s regions=%" PRIu64 " insns=%" PRIu64 "\n",
            target, regions, total);
    char vs[32];
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
    fclose(f);
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
    if (blocks_path) {
        write_blocks();
    }
    if (out_fd >= 0) {
        char line[256];
        int k = snprintf(line, sizeof line,
                         "{\"tensorop\":\"plugin\",\"regions\":%" PRIu64 ",\"insns\":%" PRIu64
                         ",\"insns_last\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"forged\":%" PRIu64
                         ",\"arch\":\"%s\"}\n",
                         regions, total, last, n_blocks(), forged, target);
        if (k > 0 && write(out_fd, line, (size_t)k) < 0) {
            fprintf(stderr, "tensorop plugin: cannot write to fd %d\n", out_fd);
        }
    } else {
        fprintf(stderr, "tensorop-insns: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", regions, total, last);
        fflush(stderr);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "fd=", 3) == 0) {
            char *end;
            long v = strtol(argv[i] + 3, &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "tensorop plugin: bad option %s\n", argv[i]);
                return -1;
            }
            out_fd = (int)v;
        } else if (strncmp(argv[i], "blocks=", 7) == 0 && argv[i][7]) {
            blocks_path = strdup(argv[i] + 7);
        } else if (strncmp(argv[i], "caller=", 7) == 0 && argv[i][7]) {
            caller = strdup(argv[i] + 7);
        } else {
            fprintf(stderr, "tensorop plugin: unknown option %s (known: fd=N, blocks=FILE, caller=SYMBOL)\n", argv[i]);
            return -1;
        }
    }
    target = info->target_name ? strdup(info->target_name) : "";
    is_riscv = strncmp(target, "riscv", 5) == 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
