"""What the compiler knows about a CUDA kernel, without a GPU: per __global__ function the
registers per thread, spills, stack, static shared memory (ptxas -v), the block size it was
compiled for (__launch_bounds__ / __maxnreg__ in the device ELF's .nv.info), an occupancy
estimate for the device's SM (harness/backends/cuda/arch.py), and the instruction mix of its SASS
(cuobjdump -sass): tensor-core instructions (HMMA, HGMMA, IMMA, ...) against FFMA/HFMA2, so a
kernel that silently falls back to the CUDA cores is caught before any GPU time is spent.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field

from harness.backends.cuda.arch import Occupancy, limits, occupancy
from harness.backends.cuda.tools import find_tool

# SASS opcodes that run on the tensor cores (HFMA2.MMA is an HFMA2 issued on the MMA pipe: not one).
TENSOR_OPS = ("HMMA", "HGMMA", "IMMA", "IGMMA", "BMMA", "BGMMA", "DMMA", "QMMA", "QGMMA", "OMMA",
              "UTCHMMA", "UTCQMMA", "UTCIMMA", "UTCOMMA", "UTCMMA")
FMA_OPS = ("FFMA", "HFMA2", "DFMA", "FMUL", "FADD")
MEMORY_OPS = ("LDSM", "LDGSTS", "UTMALDG", "UBLKCP", "LDG", "STG", "LDS", "STS")
DEFAULT_THREADS = 256


@dataclass
class FunctionReport:
    name: str                         # mangled, as in the ELF
    pretty: str = ""                  # demangled when c++filt is there
    registers: int = 0
    spill_stores: int = 0             # bytes
    spill_loads: int = 0              # bytes
    stack: int = 0                    # bytes of stack frame
    static_smem: int = 0              # bytes (without the runtime's per-block reserve)
    barriers: int = 0
    max_threads: int = 0              # __launch_bounds__ (EIATTR_MAX_THREADS) or REQNTID; 0 if none
    threads_assumed: bool = False     # the occupancy estimate assumed a block size
    occupancy: Occupancy | None = None
    tensor_instructions: int = 0
    tensor_ops: dict = field(default_factory=dict)    # opcode (with modifiers) -> count
    fma_instructions: int = 0
    instructions: int = 0
    opcodes: dict = field(default_factory=dict)       # the most frequent opcodes (base names)

    def to_json(self) -> dict:
        d = asdict(self)
        d["occupancy"] = self.occupancy.to_json() if self.occupancy else None
        return d


@dataclass
class CompileReport:
    sm: str
    dtype: str = ""
    functions: list[FunctionReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sass: bool = False                # cuobjdump read the SASS

    @property
    def tensor_instructions(self) -> int:
        return sum(f.tensor_instructions for f in self.functions)

    def to_json(self) -> dict:
        return {"sm": self.sm, "dtype": self.dtype, "sass_inspected": self.sass,
                "tensor_instructions": self.tensor_instructions,
                "functions": [f.to_json() for f in self.functions], "warnings": self.warnings, "notes": self.notes}

    def lines(self) -> list[str]:
        out = []
        for f in self.functions:
            occ = f.occupancy
            o = (f"occupancy ~{occ.occupancy:.0%} ({occ.blocks_per_sm} blocks x {occ.threads_per_block} threads "
                 f"per SM, {'limited by ' + occ.limiter if not occ.limiter.startswith('none') else 'full occupancy'}{', block size assumed' if f.threads_assumed else ''})"
                 if occ else "occupancy unknown")
            tc = ", ".join(f"{k} x{v}" for k, v in sorted(f.tensor_ops.items())) or "none"
            out.append(f"{f.pretty or f.name}:")
            out.append(f"  registers {f.registers}/thread, spills {f.spill_stores} B stored / {f.spill_loads} B "
                       f"loaded, stack {f.stack} B, static shared memory {f.static_smem} B, barriers {f.barriers}")
            out.append(f"  {o}")
            if self.sass:
                out.append(f"  SASS: {f.instructions} instructions; tensor-core {f.tensor_instructions} ({tc}); "
                           f"FMA-class {f.fma_instructions}")
        out += [f"note: {n}" for n in self.notes]
        out += [f"warning: {w}" for w in self.warnings]
        return out


# ---- parsers (pure functions over the tools' text) ------------------------------------------
_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\w+)'")
_PROPS = re.compile(r"Function properties for (\S+)")
_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(?:, used (\d+) barriers)?(?:.*?, (\d+) bytes smem)?")


def parse_ptxas(log: str) -> dict[str, dict]:
    """ptxas -v output -> {entry function: {registers, spill_stores, spill_loads, stack, static_smem, barriers}}."""
    out: dict[str, dict] = {}
    current = None
    props_for = None
    for line in log.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = m.group(1)
            out.setdefault(current, {})
            continue
        m = _PROPS.search(line)
        if m:
            props_for = m.group(1)
            continue
        m = _SPILL.search(line)
        if m and (props_for or current) in out:
            out[props_for or current].update(stack=int(m.group(1)), spill_stores=int(m.group(2)),
                                             spill_loads=int(m.group(3)))
            continue
        m = _USED.search(line)
        if m and current in out:
            out[current].update(registers=int(m.group(1)), barriers=int(m.group(2) or 0),
                                static_smem=int(m.group(3) or 0))
    return out


def parse_sass(text: str) -> dict[str, list[str]]:
    """cuobjdump -sass output -> {function: [opcode with modifiers, ...]} (predicates dropped)."""
    funcs: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
            continue
        m = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Za-z0-9_.]*)", line)
        if m and cur is not None:
            funcs[cur].append(m.group(1))
    return funcs


def parse_nvinfo(text: str) -> dict[str, dict]:
    """cuobjdump -elf output -> {function: {"max_threads": n, "externs": [...]}} from .nv.info.<fn>."""
    out: dict[str, dict] = {}
    cur = None
    attr = None
    for line in text.splitlines():
        m = re.match(r"^\.nv\.info\.(\S+)\s*$", line)
        if m:
            cur = m.group(1)
            out.setdefault(cur, {"max_threads": 0, "externs": []})
            continue
        if line.startswith(".") and not line.startswith(".nv.info."):
            cur = None
        if cur is None:
            continue
        m = re.match(r"\s*Attribute:\s*(\w+)", line)
        if m:
            attr = m.group(1)
            continue
        m = re.match(r"\s*Value:\s*(.*)$", line)
        if m and attr:
            val = m.group(1)
            if attr in ("EIATTR_MAX_THREADS", "EIATTR_REQNTID"):
                dims = [int(x, 16) for x in re.findall(r"0x[0-9a-fA-F]+", val)]
                if dims:
                    n = 1
                    for d in dims:
                        n *= max(1, d)
                    out[cur]["max_threads"] = n
            elif attr == "EIATTR_EXTERNS" or "externs:" in val:
                out[cur]["externs"] += re.findall(r"([A-Za-z_$][\w$.]*)\(0x[0-9a-f]+\)", val)
            attr = None
    return out


def demangle(names: list[str]) -> dict[str, str]:
    filt = shutil.which("c++filt")
    if not filt or not names:
        return {}
    try:
        p = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True, timeout=20)
        return dict(zip(names, p.stdout.splitlines()))
    except (OSError, subprocess.SubprocessError):
        return {}


def run_tool(cmd: list[str]) -> str:
    """Run a CUDA binary tool; cuobjdump -sass needs nvdisasm on PATH."""
    import os
    dirs = [os.path.dirname(cmd[0])]
    nvdisasm = find_tool("nvdisasm")
    if nvdisasm:
        dirs.append(os.path.dirname(nvdisasm))
    env = {"LC_ALL": "C", "PATH": ":".join([*dirs, "/usr/bin", "/bin"])}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {(p.stderr or p.stdout).strip()[:400]}")
    return p.stdout


def inspect_object(obj: str, sm: str, ptxas_log: str, cuobjdump: str | None, dtype: str = "",
                   tensor_cores: bool = True, threads: int | None = None, dynamic_smem: int = 0) -> CompileReport:
    """The compile report of one kernel object (host .o with the embedded cubin)."""
    rep = CompileReport(sm=sm, dtype=dtype)
    ptx = parse_ptxas(ptxas_log)
    sass: dict[str, list[str]] = {}
    info: dict[str, dict] = {}
    if cuobjdump:
        sass = parse_sass(run_tool([cuobjdump, "-sass", obj]))
        info = parse_nvinfo(run_tool([cuobjdump, "-elf", obj]))
        rep.sass = True
    else:
        rep.notes.append("cuobjdump not found: SASS not inspected (tensor-core instructions unknown)")
    names = list(dict.fromkeys([*ptx, *sass]))
    pretty = demangle(names)
    lim = limits(sm)
    if lim is None:
        rep.notes.append(f"no SM limits known for {sm}: no occupancy estimate")
    rep.functions = _collect(names, ptx, sass, info, pretty, lim, threads, dynamic_smem, rep)
    for f in rep.functions:
        if f.spill_stores or f.spill_loads:
            rep.warnings.append(f"{f.pretty or f.name}: register spills ({f.spill_stores} B stored, "
                                f"{f.spill_loads} B loaded): local memory traffic in the kernel")
        if f.occupancy is not None and f.occupancy.blocks_per_sm == 0:
            rep.warnings.append(f"{f.pretty or f.name}: cannot launch on {sm}: "
                                f"{f.occupancy.note or 'not enough ' + f.occupancy.limiter}")
    if rep.sass and rep.functions and rep.tensor_instructions == 0 and tensor_cores and dtype not in ("f32",):
        rep.warnings.append("no tensor-core instructions in SASS (no HMMA/HGMMA/IMMA): the kernel computes on the "
                            f"CUDA cores ({sum(f.fma_instructions for f in rep.functions)} FMA-class instructions); "
                            "use WMMA, mma.sync or wgmma")
    if dtype == "f32" and rep.sass:
        rep.notes.append("f32: FFMA is expected (tensor cores would need TF32, which fails the f32 error bound)")
    if any(f.threads_assumed for f in rep.functions):
        rep.notes.append(f"no __launch_bounds__: occupancy assumes {DEFAULT_THREADS} threads per block "
                         "(give the kernel __launch_bounds__, or --threads)")
    rep.notes.append("occupancy counts static shared memory only" + (f" plus {dynamic_smem} B dynamic" if dynamic_smem
                                                                      else " (dynamic shared memory is set at launch; "
                                                                           "--dyn-smem adds it)"))
    return rep


def _collect(names, ptx, sass, info, pretty, lim, threads, dynamic_smem, rep) -> list[FunctionReport]:
    out = []
    for name in names:
        p = ptx.get(name, {})
        f = FunctionReport(name=name, pretty=pretty.get(name, ""), **p)
        f.max_threads = info.get(name, {}).get("max_threads", 0)
        ops = sass.get(name, [])
        base = Counter(o.split(".")[0] for o in ops)
        f.instructions = len(ops)
        f.opcodes = dict(base.most_common(12))
        f.tensor_ops = dict(Counter(o for o in ops if o.split(".")[0] in TENSOR_OPS))
        f.tensor_instructions = sum(f.tensor_ops.values())
        f.fma_instructions = sum(base[o] for o in ("FFMA", "HFMA2", "DFMA"))
        t = threads or f.max_threads
        if not t:
            t, f.threads_assumed = DEFAULT_THREADS, True
        if lim is not None:
            f.occupancy = occupancy(lim, f.registers, t, f.static_smem, dynamic_smem)
        out.append(f)
    return out
