"""The worker's seccomp filter (harness/driver/tensorop_worker.h) read back for each ISA and decoded
against that ISA's system call table: it admits exactly the documented calls (docs/THREAT_MODEL.md,
"The worker's system calls"), by the numbers of x86-64's table and of the generic table riscv64 and
aarch64 share, and nothing a kernel could use to get out (open, exec, fork, sockets, kill, ptrace).

The numbers below are written out from the kernel's tables (arch/x86/entry/syscalls/syscall_64.tbl,
include/uapi/asm-generic/unistd.h), not taken from the headers the filter is compiled with, so a
filter compiled against the wrong table fails here."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# name -> number, x86-64 and the generic table (riscv64, aarch64)
X86_64 = {
    "read": 0, "write": 1, "close": 3, "fstat": 5, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "sched_yield": 24, "mremap": 25,
    "madvise": 28, "getpid": 39, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "exit": 60, "kill": 62,
    "getrlimit": 97, "ptrace": 101, "sigaltstack": 131, "gettid": 186, "futex": 202, "sched_getaffinity": 204,
    "clock_gettime": 228, "exit_group": 231, "mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239,
    "openat": 257, "newfstatat": 262, "set_robust_list": 273, "prlimit64": 302, "getrandom": 318,
    "rseq": 334, "clone3": 435, "socket": 41, "open": 2, "process_vm_writev": 311,
}
GENERIC = {
    "getcwd": 17, "openat": 56, "close": 57, "read": 63, "write": 64, "newfstatat": 79, "fstat": 80,
    "exit": 93, "exit_group": 94, "futex": 98, "set_robust_list": 99, "clock_gettime": 113, "ptrace": 117,
    "sched_getaffinity": 123, "sched_yield": 124, "kill": 129, "sigaltstack": 132, "rt_sigaction": 134,
    "rt_sigprocmask": 135, "rt_sigreturn": 139, "getrlimit": 163, "getpid": 172, "gettid": 178,
    "socket": 198, "brk": 214, "munmap": 215, "mremap": 216, "clone": 220, "execve": 221, "mmap": 222,
    "mprotect": 226, "madvise": 233, "mbind": 235, "get_mempolicy": 236, "set_mempolicy": 237,
    "prlimit64": 261, "process_vm_writev": 271, "getrandom": 278, "rseq": 293, "clone3": 435,
    "riscv_hwprobe": 258, "riscv_flush_icache": 259,
}

# What the worker may do, one thread (docs/THREAT_MODEL.md): its pipes, memory, the clock, its own ids, exit
SINGLE = {"read", "write", "exit", "exit_group", "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
          "rt_sigreturn", "clock_gettime", "getrandom", "close", "fstat", "sched_yield", "getpid", "gettid",
          "mbind", "get_mempolicy", "set_mempolicy", "newfstatat"}
# and with threads allowed: clone (CLONE_THREAD only, checked on its argument), futexes & co.
THREADED = SINGLE | {"clone", "futex", "set_robust_list", "rt_sigprocmask", "sched_getaffinity", "prlimit64",
                     "getrlimit", "rt_sigaction", "sigaltstack", "rseq"}
# per ISA: calls only one ISA's libc or OpenBLAS makes in the worker. None, as strace on the boards
# shows (docs/THREAT_MODEL.md, "The worker's system calls"): OpenBLAS's riscv_hwprobe (riscv64) and
# its reads of /sys and /proc (both ISAs) happen when the library is loaded, in the driver's parent,
# before the worker exists; in the worker a one-thread OpenBLAS makes only mmap and mbind on first use.
EXTRA: dict[str, set[str]] = {"x86_64": set(), "riscv64": set(), "aarch64": set()}
NEVER = {"openat", "open", "execve", "fork", "vfork", "kill", "ptrace", "socket", "process_vm_writev", "getcwd",
         "riscv_hwprobe", "riscv_flush_icache"}

DUMP = r"""
#include <stdio.h>
#include <sys/resource.h>
#include "tensorop_worker.h"
int main(void) {
    struct sock_filter f[WORKER_FILTER_MAX];
    for (int threads = 1; threads <= 2; threads++) {
        unsigned short n = worker_filter(threads, f);
        for (unsigned i = 0; i < n; i++)
            printf("%d %u %u %u %u\n", threads, f[i].code, f[i].jt, f[i].jf, f[i].k);
    }
    return 0;
}
"""

ISAS = {
    "x86_64": ([], [], X86_64),
    "riscv64": (["--target=riscv64-linux-gnu", "-march=rv64gc"], ["qemu-riscv64", "-L", "/usr/riscv64-linux-gnu"],
                GENERIC),
    "aarch64": (["--target=aarch64-linux-gnu"], ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"], GENERIC),
}

BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x06
RET_ALLOW, RET_KILL_PROCESS = 0x7FFF0000, 0x80000000


def decode(prog: list[tuple[int, int, int, int]]) -> tuple[set[int], dict[int, str]]:
    """The system call numbers the program lets through unconditionally, and those it decides on an
    argument or answers with an error (number -> what)."""
    allowed, special = set(), {}
    assert prog[0] == (BPF_LD_W_ABS, 0, 0, 4), "first: load the arch"
    assert prog[2] == (BPF_RET_K, 0, 0, RET_KILL_PROCESS), "another arch is killed"
    assert prog[3] == (BPF_LD_W_ABS, 0, 0, 0), "then: load the number"
    assert prog[-1] == (BPF_RET_K, 0, 0, RET_KILL_PROCESS), "anything else is killed"
    i = 4
    while i < len(prog) - 1:
        code, jt, jf, k = prog[i]
        assert code == BPF_JEQ_K, f"instruction {i}: {prog[i]}"
        nxt = prog[i + 1]
        if (jt, jf) == (0, 1) and nxt == (BPF_RET_K, 0, 0, RET_ALLOW):
            allowed.add(k)
            i += 2
        elif (jt, jf) == (0, 1) and nxt[0] == BPF_RET_K:
            special[k] = f"returns {nxt[3]:#x}"
            i += 2
        elif (jt, jf) == (0, 4) and prog[i + 1] == (BPF_LD_W_ABS, 0, 0, 16):
            # clone: load args[0], CLONE_THREAD set -> allow, else kill
            assert prog[i + 2] == (BPF_JSET_K, 0, 1, 0x10000)
            assert prog[i + 3] == (BPF_RET_K, 0, 0, RET_ALLOW) and prog[i + 4] == (BPF_RET_K, 0, 0, RET_KILL_PROCESS)
            special[k] = "CLONE_THREAD only"
            i += 5
        elif (jt, jf) == (0, 4):          # futex: load args[1] (the op), FUTEX_WAKE_PRIVATE -> allow, else kill
            assert prog[i + 1] == (BPF_LD_W_ABS, 0, 0, 24) and prog[i + 2] == (BPF_JEQ_K, 0, 1, 129)
            assert prog[i + 3] == (BPF_RET_K, 0, 0, RET_ALLOW) and prog[i + 4] == (BPF_RET_K, 0, 0, RET_KILL_PROCESS)
            special[k] = "FUTEX_WAKE_PRIVATE only"
            i += 5
        else:
            raise AssertionError(f"instruction {i}: {prog[i]}")
    return allowed, special


@pytest.mark.parametrize("isa", list(ISAS))
def test_worker_filter_admits_exactly_the_documented_calls(tmp_path, isa):
    cflags, runner, table = ISAS[isa]
    cc = shutil.which("clang-19") if cflags else shutil.which("cc")
    if cc is None or (runner and shutil.which(runner[0]) is None) or (runner and not Path(runner[2]).is_dir()):
        pytest.skip(f"no compiler or qemu-user for {isa} (make setup)")
    (tmp_path / "dump.c").write_text(DUMP)
    exe = tmp_path / "dump"
    subprocess.run([cc, *cflags, "-O1", f"-I{REPO / 'harness' / 'driver'}", str(tmp_path / "dump.c"), "-o", str(exe)],
                   check=True, capture_output=True)
    lines = subprocess.run([*runner, str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    progs: dict[int, list] = {1: [], 2: []}
    for line in filter(None, lines):
        t, *ins = map(int, line.split())
        progs[t].append(tuple(ins))
    names = {v: k for k, v in table.items()}
    for threads, want in ((1, SINGLE | EXTRA[isa]), (2, THREADED | EXTRA[isa])):
        allowed, special = decode(progs[threads])
        unknown = allowed - set(names)
        assert not unknown, f"{isa}: the filter admits numbers not in the test's table: {sorted(unknown)}"
        got = {names[n] for n in allowed} | {names[n] for n, what in special.items() if what == "CLONE_THREAD only"}
        assert got == want & set(table) | ({"clone"} if threads > 1 else set()), \
            f"{isa}, {threads} thread(s): admits {sorted(got - want)} beyond and lacks {sorted(want - got)}"
        assert not got & NEVER, f"{isa}: admits {sorted(got & NEVER)}"
        if threads > 1:
            assert special.get(table["clone3"]) == "returns 0x50026", "clone3 answers ENOSYS (libc falls back)"
        else:   # one thread: futex only to wake (a once-only initialiser's end), nothing else of it
            assert special.get(table["futex"]) == "FUTEX_WAKE_PRIVATE only", special
