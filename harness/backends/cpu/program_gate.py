"""The gate on the linked program (docs/THREAT_MODEL.md): what ends up executable once the kernel's
object is linked with the timing driver, whatever its sections were called or flagged.

The object gate (object_gate.py) judges the kernel's `.o`; the linker then decides what is
executable. An input section flagged "a" (not executable) named `.stub` still lands in the
executable segment under GNU ld's default script, so a system-call instruction hidden there passes
an object scan. This gate reads the linked ELF instead:

  segments   no segment both writable and executable; the stack is not executable
             (the build links with -z noexecstack, -z separate-code: only code is executable)
  sections   every section inside an executable segment is code the harness knows: the startup
             and PLT sections, the driver's `.text`, the driver's `.tensorop_driver` (its
             profiling function and the counting markers) and `.tensorop_kernel`, where the link
             script puts every `.text*` input section of the kernel objects
  syscalls   no system-call instruction anywhere in an executable segment: RISC-V `ecall` at every
             2-byte offset, AArch64 svc/hvc/smc at every 4-byte offset; x86: the kernel's own
             bytes (`.tensorop_kernel`, as linked, relocations applied) at EVERY byte offset
             (syscall 0f 05, sysenter 0f 34, int 0x80 cd 80), the harness's code by disassembly
             (its jump displacements hold such bytes honestly; jumping into the middle of one is
             stopped at run time by the seccomp filter natively and by the QEMU plugin's
             system-call watch under emulation).

`code_map(exe)` reads where the kernel's code, the driver's profiling function and the markers
are, for the QEMU plugin (which accepts markers by address, never by name).
"""
from __future__ import annotations

import struct
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness.backends.cpu.object_gate import distinct, syscall_instructions, x86_disassembled_syscalls
from harness.core.records import CodeMap

KERNEL_SECTION = ".tensorop_kernel"
DRIVER_SECTION = ".tensorop_driver"
# The link script: every code section of the kernel objects (the kernel, a paired partner) in one
# output section of its own, placed right after .text in the executable segment. Each kernel's code
# starts on a page of its own, so a kernel's code has the same alignment alone and in either place
# of a pair (a hot loop's alignment moves its speed by up to 30% on this host: a pair measured the
# partner's code at another alignment than the kernel has alone).
KERNEL_LINK_SCRIPT = f"""SECTIONS
{{
  {KERNEL_SECTION} ALIGN(4096) : {{ *kernel.o(.text .text.*) . = ALIGN(4096); *partner.o(.text .text.*) }}
}}
INSERT AFTER .text;
"""
LINK_FLAGS = ("-no-pie", "-Wl,-z,noexecstack", "-Wl,-z,separate-code", "-Wl,-T,kernel.ld")
# sections an executable segment may hold (startup, PLT, code)
_CODE_SECTIONS = (".init", ".fini", ".text", ".plt", ".iplt", KERNEL_SECTION, DRIVER_SECTION)

PF_X, PF_W = 0x1, 0x2


def check_program(exe: Path) -> list[tuple[str, str]]:
    """(rule, message) for every violation in the linked program `exe`."""
    try:
        with exe.open("rb") as f:
            elf = ELFFile(f)
            return _check(elf, exe)
    except (ELFError, OSError, struct.error) as e:
        return [("sections", f"cannot read the linked program: {e}")]


def _check(elf: ELFFile, exe: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    machine = elf["e_machine"]
    segments = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    for n, seg in enumerate(segments):
        if seg["p_flags"] & PF_X and seg["p_flags"] & PF_W:
            out.append(("segments", f"segment {n} is both writable and executable"))
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_GNU_STACK" and seg["p_flags"] & PF_X:
            out.append(("segments", "the stack is executable"))
    executable = [(s["p_vaddr"], s["p_vaddr"] + s["p_memsz"], s) for s in segments if s["p_flags"] & PF_X]
    kernel_ranges = []
    for sec in elf.iter_sections():
        lo, size = sec["sh_addr"], sec["sh_size"]
        if not (sec["sh_flags"] & 0x2) or size == 0:          # SHF_ALLOC: in memory at all
            continue
        if any(lo < hi and lo + size > a for a, hi, _ in executable):
            if not sec.name.startswith(_CODE_SECTIONS):
                out.append(("sections", f"section {sec.name or '?'} is executable in the linked program "
                                        "(only code sections may be)"))
            if sec.name == KERNEL_SECTION:
                kernel_ranges.append((lo, lo + size))
    if machine in ("EM_X86_64", "EM_386"):
        for a, hi, seg in executable:
            data = seg.data()
            for lo, khi in kernel_ranges:
                if lo >= a and khi <= hi:
                    part = data[lo - a:khi - a]
                    for off, what in syscall_instructions(machine, part):
                        out.append(("syscalls", f"{what} at {KERNEL_SECTION}+{off:#x} (the kernel's code, as linked)"))
        found = x86_disassembled_syscalls(exe)
        out += [("syscalls", f"{msg} in the linked program") for msg in (found or ())]
    else:
        for a, _hi, seg in executable:
            for off, what in syscall_instructions(machine, seg.data()):
                out.append(("syscalls", f"{what} at {a + off:#x} in the linked program"))
    return distinct(out)


def code_map(exe: Path) -> CodeMap | None:
    """Where the kernel's code, the driver's profiling function and its markers are in `exe`
    (addresses as the program runs); None when the program is position-independent or lacks the
    driver's section (a build of another kind)."""
    try:
        with exe.open("rb") as f:
            elf = ELFFile(f)
            if elf["e_type"] != "ET_EXEC":
                return None
            secs = {s.name: (s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in elf.iter_sections()}
            if DRIVER_SECTION not in secs:
                return None
            dlo, dhi = secs[DRIVER_SECTION]
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                return None                   # stripped: the markers cannot be found
            found: dict[str, tuple[int, int]] = {}
            for sym in symtab.iter_symbols():
                v = sym["st_value"]
                if sym["st_info"]["type"] == "STT_FUNC" and dlo <= v < dhi:
                    found[sym.name] = (v, v + max(int(sym["st_size"]), 1))
    except (ELFError, OSError, struct.error):
        return None
    need = ("tensorop_region_begin", "tensorop_region_end", "run_profile")
    if not all(n in found for n in need):
        return None
    kernel = secs.get(KERNEL_SECTION, (0, 0))
    return CodeMap(kernel=kernel, caller=found["run_profile"], begin=found["tensorop_region_begin"][0],
                   end=found["tensorop_region_end"][0])


def executable_segments(exe: Path) -> list[tuple[int, bytes]]:
    """(address, bytes) of each executable segment of a position-dependent program (none for a
    position-independent one, whose run-time addresses are not the file's)."""
    try:
        with exe.open("rb") as f:
            elf = ELFFile(f)
            if elf["e_type"] != "ET_EXEC":
                return []
            return [(s["p_vaddr"], s.data()) for s in elf.iter_segments()
                    if s["p_type"] == "PT_LOAD" and s["p_flags"] & PF_X]
    except (ELFError, OSError, struct.error):
        return []
