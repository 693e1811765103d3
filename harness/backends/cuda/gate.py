"""The object gate for CUDA kernels (docs/THREAT_MODEL.md), on what nvcc produced:

host object (x86-64 ELF: the ABI function, the launch stubs, the embedded fatbin)
  The CPU gate's rules (harness/backends/cpu/object_gate.py), with what nvcc itself emits allowed and nothing
  else: undefined symbols from the CUDA launch API and nvcc's registration calls only (no
  cudaStreamCreate, cudaDeviceSynchronize, cudaMalloc, cudaMemcpy, events, no cuBLAS/cuDNN, no
  libc beyond the CPU allow-list); global definitions only the ABI function and the kernel's own
  __global__ launch stubs (C++ names: an extern "C" __global__ could interpose a runtime
  function); the one constructor nvcc adds (__sti____cudaRegisterAll, which registers the
  fatbin) and no other; the C compiler's sections plus nvcc's fatbin sections (not executable);
  no system-call instruction.
device code (the cubin inside it, read by cuobjdump)
  No calls out of the kernel: no vprintf (printf), malloc/free, __assertfail (assert), device-side
  launches (cudaLaunchDevice, cudaGetParameterBuffer: dynamic parallelism) or any other extern.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from harness.backends.cpu.object_gate import RULES, GateResult, Policy, scan_code
from harness.backends.cuda.inspect import demangle

CUDA_HOST_ALLOWED = frozenset({
    # nvcc's registration and launch machinery
    "__cudaRegisterFatBinary", "__cudaRegisterFatBinaryEnd", "__cudaUnregisterFatBinary", "__cudaRegisterFunction",
    "__cudaRegisterVar", "__cudaRegisterManagedVar", "__cudaInitModule", "__cudaGetKernel", "__cudaLaunchKernel",
    "__cudaLaunchKernel_ptsz", "__cudaPushCallConfiguration", "__cudaPopCallConfiguration",
    "__cxa_guard_acquire", "__cxa_guard_release", "__cxa_guard_abort", "__gxx_personality_v0", "_Unwind_Resume",
    "atexit",
    # the launch API a kernel's host side may use
    "cudaLaunchKernel", "cudaLaunchKernelExC", "cudaLaunchCooperativeKernel", "cudaFuncSetAttribute",
    "cudaFuncGetAttributes", "cudaFuncSetCacheConfig", "cudaGetDevice", "cudaDeviceGetAttribute",
    "cudaGetLastError", "cudaPeekAtLastError", "cudaOccupancyMaxActiveBlocksPerMultiprocessor",
    "cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags",
    # stream-ordered work on the caller's stream (workspace, clearing, device-to-device copies)
    "cudaMallocAsync", "cudaFreeAsync", "cudaMemsetAsync", "cudaMemcpyAsync",
    # TMA descriptors (sm_90): the driver API's encoders, linked with -lcuda
    "cuTensorMapEncodeTiled", "cuTensorMapEncodeIm2col",
})
ALLOWED_HOST_DATA = frozenset({"__gxx_personality_v0"})
REGISTER_CTOR = re.compile(r"^_ZL\d+__sti____cudaRegisterAllv$")
# sections nvcc itself adds to the host object (the embedded fatbin and its registration data);
# flagged not executable, so the CPU gate's "code only in .text*" still holds for them
NVCC_SECTIONS = re.compile(r"^has section '(\.nv_fatbin|\.nvFatBinSegment|__nv_module_id|__nv_relfatbin)' ")
STUB_DEFS = re.compile(r"^(_ZN4dim3C[12]E\w*|DW\.ref\.__gxx_personality_v0)$")
DEVICE_EXTERN_WHY = {
    "vprintf": "printf on the device", "malloc": "device-side malloc", "free": "device-side free",
    "__assertfail": "assert on the device", "cudaLaunchDevice": "a device-side launch (dynamic parallelism)",
    "cudaLaunchDeviceV2": "a device-side launch (dynamic parallelism)",
    "cudaGetParameterBuffer": "a device-side launch (dynamic parallelism)",
    "cudaGetParameterBufferV2": "a device-side launch (dynamic parallelism)",
    "cudaDeviceSynchronize": "device-side synchronisation (dynamic parallelism)",
}


def _quoted(msg: str) -> list[str]:
    return re.findall(r"`([^`]+)`", msg)


def _only_register_ctor(obj: Path) -> bool:
    """The object's .init_array holds nvcc's fatbin registration and nothing else."""
    try:
        with obj.open("rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            for sec in elf.iter_sections():
                if not isinstance(sec, RelocationSection):
                    continue
                target = elf.get_section(sec["sh_info"]) if sec["sh_info"] else None
                if target is None or not target.name.startswith((".init_array", ".fini_array", ".ctors", ".dtors",
                                                                  ".preinit_array")):
                    continue
                if target.name.startswith(".init_array") is False:
                    return False
                for rel in sec.iter_relocations():
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    name = sym.name
                    if sym["st_info"]["type"] == "STT_SECTION":   # relocation against .text + addend
                        name = _symbol_at(symtab, sym["st_shndx"], rel["r_addend"])
                    if not REGISTER_CTOR.match(name or ""):
                        return False
            return True
    except (ELFError, OSError, struct.error):
        return False


def _symbol_at(symtab, shndx, value) -> str:
    for s in symtab.iter_symbols():
        if s["st_shndx"] == shndx and s["st_value"] == value and s["st_info"]["type"] == "STT_FUNC":
            return s.name
    return ""


def check_host_object(obj: Path, abi_symbol: str, kernel_names: set[str], relax: tuple[str, ...] = ()) -> GateResult:
    """The CPU gate's rules on nvcc's host object, with nvcc's own output allowed."""
    policy = Policy(abi_symbol=abi_symbol, extra_symbols=tuple(CUDA_HOST_ALLOWED))
    try:
        with obj.open("rb") as f:
            found = scan_code(ELFFile(f), policy)
    except (ELFError, OSError, struct.error) as e:
        return GateResult(False, (f"cannot read the kernel's object file: {e}",))
    ctor_ok = None
    kept = []
    for rule, msg in found:
        names = _quoted(msg)
        if rule == "definitions" and names:
            n = names[0]
            if n in kernel_names or "__device_stub__" in n or STUB_DEFS.match(n):
                if n.startswith("_Z") or STUB_DEFS.match(n):
                    continue
                msg = (f"defines global symbol `{n}`: an extern \"C\" __global__ function (give kernels C++ "
                       "linkage, or put them in an anonymous namespace)")
        if rule == "addresses" and names and names[0] in ALLOWED_HOST_DATA:
            continue
        if rule == "sections" and NVCC_SECTIONS.match(msg):
            continue
        if rule == "constructors" and ".init_array" in msg:
            if ctor_ok is None:
                ctor_ok = _only_register_ctor(obj)
            if ctor_ok:
                continue
            msg = "has constructors besides nvcc's fatbin registration (code that runs before main)"
        if rule == "symbols" and names and names[0].startswith(("cuda", "cu", "__cuda")):
            msg = (f"references `{names[0]}` (not on the CUDA allow-list: the ABI function may launch kernels on "
                   "its stream and use stream-ordered memory only)")
        if rule == "symbols" and names and re.match(r"^(cublas|cudnn|cublasLt|cutlass)", names[0], re.I):
            msg = f"references `{names[0]}` (a library: the kernel must do the math itself)"
        kept.append((rule, msg))
    relaxed = tuple(r for r in relax if r in RULES)
    violations = tuple(dict.fromkeys(m for r, m in kept if r not in relaxed))
    return GateResult(not violations, violations, relaxed)


def check_device_code(nvinfo: dict[str, dict], relax: tuple[str, ...] = ()) -> GateResult:
    """No externs in the device code (from the cubin's .nv.info EIATTR_EXTERNS of every function)."""
    out = []
    pretty = demangle(list(nvinfo))
    for fn, info in nvinfo.items():
        for ext in info.get("externs", []):
            why = DEVICE_EXTERN_WHY.get(ext, "a call out of the kernel")
            out.append(f"device code of `{pretty.get(fn) or fn}` calls `{ext}` ({why})")
    if "symbols" in relax:
        return GateResult(True, (), ("symbols",) if out else ())
    violations = tuple(dict.fromkeys(out))
    return GateResult(not violations, violations)
