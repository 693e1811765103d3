"""The gate on a kernel's object file (docs/THREAT_MODEL.md): what the compiled code may reference,
define and execute, read from the ELF object the toolchain produced, whatever the source looked
like (macros, token pasting, inline asm, `.byte` directives).

Rules, each with a name so a trusted kernel can relax it (`bench --trust NAME`, recorded with
the trial):
  symbols        undefined symbols come from an allow-list only: libm, memcpy/memset/memmove/
                 memcmp, aligned allocation, compiler runtime helpers, the stack protector.
                 No stdio, no clock, no threads, no exit, no system-call wrappers, no BLAS,
                 no dynamic loading.
  addresses      library functions may only be called, never have their address taken (an
                 address inside libc is a way to every other libc function).
  definitions    no global symbol defined but the ABI function (no interposing libc's
                 clock_gettime or fwrite, no redefining the driver's markers), no IFUNC.
  constructors   no .init_array/.fini_array/.ctors/.dtors/.preinit_array/.init/.fini.
  sections       every section has a name the toolchains produce for C (code in `.text*` and only
                 there, data in `.rodata*`/`.data*`/`.bss*` and their small/TLS forms, metadata);
                 anything else (`.stub`, a flag trick) is refused before it reaches the linker.
  syscalls       no system-call instruction in executable code: x86 syscall/sysenter/int 0x80 (found
                 by disassembly here; the linked kernel code is also scanned at every byte offset by
                 program_gate.py), RISC-V ecall at any 2-byte offset, AArch64 svc/hvc/smc.
The linked program is gated again (program_gate.py: executable segments, not section flags).
  threads        (part of `symbols`) pthread_*/OpenMP only when the task allows threads.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

RULES = ("symbols", "addresses", "definitions", "constructors", "sections", "segments", "syscalls")

_MATH = ("sqrt exp exp2 expm1 log log2 log10 log1p pow sin cos tan sinh cosh tanh asin acos atan atan2 "
         "erf erfc fabs fma fmax fmin floor ceil round lround trunc rint lrint nearbyint ldexp frexp "
         "copysign hypot cbrt fmod remainder").split()
ALLOWED_FUNCTIONS = frozenset(
    [*_MATH, *(m + "f" for m in _MATH), *(m + "l" for m in _MATH),
     "memcpy", "memmove", "memset", "memcmp", "bcmp", "bzero", "__memcpy_chk", "__memmove_chk", "__memset_chk",
     "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign",
     "__stack_chk_fail", "__cpu_indicator_init"])
ALLOWED_DATA = frozenset({"__stack_chk_guard", "__cpu_model", "__cpu_features2", "_GLOBAL_OFFSET_TABLE_"})
THREAD_RE = re.compile(r"^(pthread_\w+|omp_\w+|GOMP_\w+|__kmpc_\w+|sched_getaffinity|get_nprocs\w*|sysconf)$")
# libgcc / compiler-rt helpers: soft-float and wide-integer arithmetic and conversions,
# e.g. __divti3, __udivdi3, __mulsc3, __extendhfsf2, __truncsfbf2, __floatditf, __popcountdi2.
RUNTIME_RE = re.compile(
    r"^__(?:(?:add|sub|mul|div|neg|pow|cmp|eq|ne|lt|le|gt|ge|unord|abs)(?:[sdtxh]f|bf|[sdt]i|[sdtxh]c)\d"
    r"|(?:fix|fixuns)(?:[sdtxh]f|bf)(?:[sdt]i)\d"
    r"|(?:float|floatun)(?:[sdt]i)(?:[sdtxh]f|bf)\d"
    r"|(?:extend|trunc)(?:[sdtxh]f|bf)(?:[sdtxh]f|bf)\d"
    r"|(?:ash|lsh)[lr]?[sdt]i3|(?:u?div|u?mod|mul|udivmod)[sdt]i[34]"
    r"|(?:clz|ctz|ffs|popcount|parity|bswap)[sdt]i2)$")

# Relocation types that are calls or tail calls (the only way a library function may be used).
_CALL_RELOCS = {
    "EM_RISCV": {18, 19},                 # R_RISCV_CALL, R_RISCV_CALL_PLT
    "EM_AARCH64": {282, 283},             # R_AARCH64_JUMP26, R_AARCH64_CALL26
}
_X86_PC_RELOCS = {2, 4}                   # R_X86_64_PC32, R_X86_64_PLT32 (checked for call/jmp)
_FORBIDDEN_SECTIONS = re.compile(r"^\.(init_array|fini_array|preinit_array|ctors|dtors|init|fini)(\..*)?$")
# Section names a C compiler emits: code, data (with the small-data and TLS forms of RISC-V and
# the large-model forms of x86), unwind tables and metadata. Code may only be in `.text*`.
_CODE_SECTION = re.compile(r"^\.text(\..*)?$")
_KNOWN_SECTIONS = re.compile(
    r"^(\.text|\.rodata|\.data|\.bss|\.sdata|\.sbss|\.srodata|\.sdata2|\.sbss2|\.tdata|\.tbss|\.lrodata"
    r"|\.ldata|\.lbss)(\..*)?$"
    r"|^\.(rela?\..+|eh_frame|gcc_except_table(\..*)?|comment|note\.GNU-stack|note\.gnu\.property"
    r"|note\.gnu\.build-id|group|symtab|strtab|shstrtab|symtab_shndx|llvm_addrsig|llvm\.call-graph-profile"
    r"|riscv\.attributes|ARM\.attributes|debug_\w+|zdebug_\w+|stack_sizes)$|^$")


@dataclass(frozen=True)
class GateResult:
    ok: bool
    violations: tuple[str, ...] = ()
    relaxed: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(self.violations)


@dataclass(frozen=True)
class Policy:
    abi_symbol: str = "tensorop_gemm_f32"
    allow_threads: bool = False
    relax: tuple[str, ...] = ()           # rule names a trusted kernel is exempt from
    extra_symbols: tuple[str, ...] = field(default_factory=tuple)

    def allowed(self, name: str) -> bool:
        return (name in ALLOWED_FUNCTIONS or name in ALLOWED_DATA or name in self.extra_symbols
                or bool(RUNTIME_RE.match(name)) or (self.allow_threads and bool(THREAD_RE.match(name))))


def check_object(obj: Path, policy: Policy) -> GateResult:
    """Every rule on one relocatable object file (ELF .o) of the kernel."""
    try:
        with obj.open("rb") as f:
            elf = ELFFile(f)
            found = scan_code(elf, policy, obj)
    except (ELFError, OSError, struct.error) as e:
        return GateResult(False, (f"cannot read the kernel's object file: {e}",))
    relaxed = tuple(r for r in policy.relax if r in RULES)
    kept = tuple(msg for rule, msg in found if rule not in relaxed)
    return GateResult(not kept, kept, relaxed)


def scan_code(elf: ELFFile, policy: Policy, obj: Path | None = None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    machine = elf["e_machine"]
    symtab = next((s for s in elf.iter_sections() if isinstance(s, SymbolTableSection)), None)
    syms = list(symtab.iter_symbols()) if symtab else []

    # symbols and definitions
    undefined = sorted({s.name for s in syms if s.name and s["st_shndx"] == "SHN_UNDEF"})
    for name in undefined:
        if not policy.allowed(name):
            out.append(("symbols", f"references `{name}` (not on the allow-list: {_why(name)})"))
    for s in syms:
        bind, typ = s["st_info"]["bind"], s["st_info"]["type"]
        if typ == "STT_LOOS" or typ == "STT_GNU_IFUNC":
            out.append(("definitions", f"`{s.name}` is an IFUNC (its resolver would run before main)"))
        if s.name and s["st_shndx"] != "SHN_UNDEF" and bind in ("STB_GLOBAL", "STB_WEAK", "STB_LOOS", "STB_GNU_UNIQUE"):
            if s.name != policy.abi_symbol:
                out.append(("definitions", f"defines global symbol `{s.name}` (only {policy.abi_symbol} may be "
                                           "global: make helpers static)"))

    # constructors and destructors
    for sec in elf.iter_sections():
        if _FORBIDDEN_SECTIONS.match(sec.name) or sec["sh_type"] in ("SHT_INIT_ARRAY", "SHT_FINI_ARRAY",
                                                                    "SHT_PREINIT_ARRAY"):
            out.append(("constructors", f"has section {sec.name} (code that runs before or after main)"))

    # sections: known names only; code in .text* only, and .text* holds code
    for sec in elf.iter_sections():
        if _FORBIDDEN_SECTIONS.match(sec.name):
            continue                                   # reported as constructors above
        execute = bool(sec["sh_flags"] & 0x4)          # SHF_EXECINSTR
        if not _KNOWN_SECTIONS.match(sec.name):
            out.append(("sections", f"has section {sec.name!r} (not one a C compiler emits: code goes in .text, "
                                    "data in .rodata/.data/.bss)"))
        if execute != bool(_CODE_SECTION.match(sec.name)) and sec["sh_type"] != "SHT_NOBITS":
            out.append(("sections", f"section {sec.name} is " + ("executable but not .text" if execute
                                                                  else "named as code but not executable")))

    # addresses: library symbols only as call targets
    for sec in elf.iter_sections():
        if not isinstance(sec, RelocationSection) or symtab is None:
            continue
        target = elf.get_section(sec["sh_info"]) if sec["sh_info"] else None
        data = target.data() if target is not None and target["sh_type"] != "SHT_NOBITS" else b""
        for rel in sec.iter_relocations():
            sym = symtab.get_symbol(rel["r_info_sym"])
            if not sym.name or sym["st_shndx"] != "SHN_UNDEF" or sym.name in ALLOWED_DATA:
                continue
            if not _is_call(machine, rel["r_info_type"], rel["r_offset"], data, target):
                out.append(("addresses", f"takes the address of `{sym.name}` (library functions may only be called)"))

    # system-call instructions in every executable section
    x86 = x86_disassembled_syscalls(obj) if machine in ("EM_X86_64", "EM_386") and obj is not None else None
    if x86 is not None:
        out += [("syscalls", msg) for msg in x86]
    else:
        for sec in elf.iter_sections():
            if sec["sh_flags"] & 0x4 and sec["sh_type"] != "SHT_NOBITS":   # SHF_EXECINSTR
                for off, what in syscall_instructions(machine, sec.data()):
                    out.append(("syscalls", f"{what} at {sec.name}+{off:#x}"))
    return distinct(out)


def distinct(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One (rule, message) per distinct message, in order."""
    first: dict[str, tuple[str, str]] = {}
    for rule, msg in found:
        first.setdefault(msg, (rule, msg))
    return list(first.values())


def _why(name: str) -> str:
    if THREAD_RE.match(name):
        return "threads are not allowed for this task"
    low = name.lower()
    if "blas" in low or "lapack" in low or re.match(r"^_?[sdcz](gemm|gemv|dot|axpy)", low):
        return "BLAS/LAPACK: the kernel must do the math itself"
    if name in ("dlopen", "dlsym", "dlmopen", "dlvsym"):
        return "dynamic loading"
    return "kernels may use libm, memory and allocation routines and compiler helpers only"


def _is_call(machine: str, rtype: int, offset: int, data: bytes, target) -> bool:
    if target is None or not (target["sh_flags"] & 0x4):   # a relocation in data: an address
        return False
    if machine == "EM_X86_64":
        return rtype in _X86_PC_RELOCS and offset >= 1 and offset <= len(data) and data[offset - 1] in (0xE8, 0xE9)
    return rtype in _CALL_RELOCS.get(machine, set())


_X86_SYSCALL = re.compile(r"^\s*([0-9a-f]+):\s+(syscall|sysenter|int\s+\$0x80)\b", re.M)


def x86_disassembled_syscalls(obj: Path) -> list[str] | None:
    """x86 system-call instructions found by disassembling the object (objdump/llvm-objdump).
    x86 code is variable-length, so a byte scan for `0f 05` also hits honest code (inside
    displacements and immediates); the disassembler sees instructions. Bytes hidden inside
    another instruction and jumped into are not seen here: the seccomp filter of the check run
    and of the timing worker kills such a call at run time. None when no disassembler is found."""
    import shutil
    import subprocess
    tool = next((t for t in ("llvm-objdump-19", "llvm-objdump", "objdump") if shutil.which(t)), None)
    if tool is None:
        return None
    try:
        p = subprocess.run([tool, "-d", "--no-show-raw-insn", str(obj)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    out, section = [], ""
    for line in p.stdout.splitlines():
        if line.startswith("Disassembly of section "):
            section = line[len("Disassembly of section "):].rstrip(":")
            continue
        m = _X86_SYSCALL.match(line)
        if m:
            out.append(f"system-call instruction `{' '.join(m.group(2).split())}` at {section}+0x{int(m.group(1), 16):x}")
    return out


def syscall_instructions(machine: str, code: bytes):
    """(offset, what) of every system-call instruction in `code`: x86 byte patterns at every
    offset, RISC-V ecall at every 2-byte offset, AArch64 svc/hvc/smc at every 4-byte offset."""
    if machine in ("EM_X86_64", "EM_386"):
        for pat, what in ((b"\x0f\x05", "syscall"), (b"\x0f\x34", "sysenter"), (b"\xcd\x80", "int 0x80")):
            for m in re.finditer(re.escape(pat), code):
                yield m.start(), f"system-call instruction `{what}` (bytes {pat.hex(' ')})"
    elif machine == "EM_RISCV":
        for off in range(0, len(code) - 3, 2):   # 2-byte granularity: compressed code may hide it
            if code[off:off + 4] == b"\x73\x00\x00\x00":
                yield off, "system-call instruction `ecall`"
    elif machine == "EM_AARCH64":
        for off in range(0, len(code) - 3, 4):
            (w,) = struct.unpack_from("<I", code, off)
            if w & 0xFFE0001C == 0xD4000000 and (w & 0x3) in (1, 2, 3):
                yield off, "system-call instruction `" + {1: "svc", 2: "hvc", 3: "smc"}[w & 0x3] + "`"
    # other ISAs: no scan (the sandbox still applies)
