/* tensorop instruction-count plugin for QEMU user mode (TCG plugin API v1, QEMU >= 7.2).
 *
 * Counts the guest instructions executed between a call to the marker function
 * `tensorop_region_begin` and a call to `tensorop_region_end` (both defined by the
 * timing driver).  Process start-up, input generation and output writing run outside
 * the region and are not counted.  Each region is one kernel call, so the count is
 * per call and repeats exactly for the same binary and inputs.
 *
 * At exit it prints one line to stderr:
 *     tensorop-insns: <regions> <total-insns-in-regions> <insns-in-last-region>
 * Built by `make -C qemu` against the qemu-plugin.h of Debian's qemu source package.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static int counting;            /* 1 while inside a region; the driver is single-threaded */
static uint64_t total, current, regions, last;

static void tb_exec(unsigned int vcpu_index, void *udata)
{
    if (counting) {
        current += (uint64_t)(uintptr_t)udata;
    }
}

static void region_begin(unsigned int vcpu_index, void *udata)
{
    counting = 1;
    current = 0;
}

static void region_end(unsigned int vcpu_index, void *udata)
{
    if (counting) {
        counting = 0;
        total += current;
        last = current;
        regions++;
    }
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const char *sym = qemu_plugin_insn_symbol(insn);
        if (!sym) {
            continue;
        }
        /* Only the first instruction of the marker functions matters. */
        if (strcmp(sym, "tensorop_region_begin") == 0 && i == 0) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, region_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (strcmp(sym, "tensorop_region_end") == 0 && i == 0) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, region_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
}

static void plugin_exit(qemu_plugin_id_t id, void *p)
{
    fprintf(stderr, "tensorop-insns: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", regions, total, last);
    fflush(stderr);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
