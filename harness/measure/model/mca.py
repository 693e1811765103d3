"""llvm-mc / llvm-mca: instruction bytes -> assembly -> steady-state cycles per block.

Batched: one llvm-mc call disassembles every block (one input line per block, each followed by
a line holding one sentinel instruction, so every block's instructions are counted on their own
and must number exactly what the plugin executed: no claimed count can move an instruction from
one block to another) and one llvm-mca call times every block as its own code region
(`# LLVM-MCA-BEGIN`), each iterated ITERATIONS times; a block's steady-state cost is Total
Cycles / Iterations. On RISC-V every region starts with the vector-state instruments
(`# LLVM-MCA-RISCV-LMUL`, `# LLVM-MCA-RISCV-SEW`): llvm-mca carries the state across regions
and crashes on an LMUL without a SEW; it follows vsetvli/vsetivli inside a block itself. Results
are cached on disk per (block bytes, vector state, triple, cpu, attributes, LLVM version,
iterations).

What the model cannot see is never cheaper than the truth: `worst_cpi(core)` is the cost of the
slowest instruction the core model knows (a dependent chain of divisions or square roots at the
widest vector), charged for every instruction llvm-mc cannot decode or llvm-mca cannot time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ITERATIONS = 100
CACHE_FORMAT = "mca-v6"
LLVM_VERSIONS = ("19", "20", "18", "21", "17")
TRIPLES = {"riscv64": "riscv64-unknown-linux-gnu", "aarch64": "aarch64-linux-gnu",
           "x86_64": "x86_64-linux-gnu"}
TIMEOUT_S = 300          # one llvm-mc / batched llvm-mca call
BLOCK_TIMEOUT_S = 10     # llvm-mca on one block (it loops forever on some, e.g. xsave)
# Instructions llvm-mca cannot time soundly (it hangs on xsave/xrstor) or that leave the
# user-level model (system calls, cpuid): blocks holding them cost worst_cpi per instruction.
UNTIMED = re.compile(r"^(xsave|xrstor|fxsave|fxrstor|cpuid|rdtsc|syscall|sysenter|ecall|ebreak|svc|hvc|int\b|int3)")
# x87: llvm-mca's x86 models do not follow dependencies through the x87 register stack (100
# dependent `faddp %st, %st(1)` cost 105 cycles on icelake-server, ~300 on the core), so a serial x87
# chain would be costed as if independent (red team of this stop: an x87 dot product modelled 2.45x
# below the same chain in SSE). In AT&T syntax every x86 mnemonic that starts with "f" is x87 (the
# SSE/AVX ones do not; fxsave/fxrstor are above): untimed, so the kernel pays the worst case for each.
X87 = re.compile(r"^f[a-z0-9]*\b")


def untimed(core: "CoreModel", line: str) -> bool:
    """llvm-mca must not time this instruction (the caller charges it the worst case)."""
    return bool(UNTIMED.match(line)) or (core.triple.startswith("x86") and bool(X87.match(line)))


class ModelUnavailable(Exception):
    """llvm-mc / llvm-mca missing or unusable, or the device has no core model."""


@dataclass(frozen=True)
class CoreModel:
    triple: str
    cpu: str
    attr: str = ""
    mc: str = ""             # llvm-mc path
    mca: str = ""            # llvm-mca path
    llvm_version: str = ""
    lmul_shift: int = 0      # RISC-V: log2(model's VLEN / device's VLEN); every LMUL is costed that many
                             # steps smaller (rescale_lmul), so an op costs what its data size costs

    @property
    def label(self) -> str:
        return f"{self.cpu} (LLVM {self.llvm_version})"

    @property
    def is_riscv(self) -> bool:
        return self.triple.startswith("riscv")

    def key(self) -> str:
        return "|".join((CACHE_FORMAT, self.triple, self.cpu, self.attr, self.llvm_version, str(ITERATIONS),
                         *((f"lmul>>{self.lmul_shift}",) if self.lmul_shift else ())))


def find_tool(name: str) -> str | None:
    for v in LLVM_VERSIONS:
        p = shutil.which(f"{name}-{v}")
        if p:
            return p
    return shutil.which(name)


def _llvm_version(tool: str) -> str:
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelUnavailable(f"cannot run {tool}: {e}") from None
    m = re.search(r"LLVM version (\S+)", out)
    return m.group(1) if m else "unknown"


def core_model(device) -> CoreModel:
    """The llvm-mca model of a device (devices.yaml core_model, mca_triple, mca_attr)."""
    cpu = getattr(device, "core_model", "")
    if not cpu:
        raise ModelUnavailable(f"device {device.name} has no core_model in devices.yaml")
    triple = getattr(device, "mca_triple", "") or TRIPLES.get(device.arch, "")
    if not triple:
        raise ModelUnavailable(f"device {device.name}: no llvm triple for arch {device.arch!r}; set mca_triple")
    mc, mca = find_tool("llvm-mc"), find_tool("llvm-mca")
    if not mc or not mca:
        raise ModelUnavailable("llvm-mc/llvm-mca not found (install Debian's llvm-19: `make setup`)")
    shift = 0
    if triple.startswith("riscv"):
        have, model = device_vlen(device), MODEL_VLEN.get(cpu)
        if have and model and model != have:
            shift = (model // have).bit_length() - 1 if model > have else -((have // model).bit_length() - 1)
    return CoreModel(triple=triple, cpu=cpu, attr=getattr(device, "mca_attr", ""), mc=mc, mca=mca,
                     llvm_version=_llvm_version(mca), lmul_shift=shift)


# The VLEN each RISC-V core model was written for (its per-op costs are those of this VLEN and
# the core's datapath): an emulated device of another VLEN is costed with every LMUL rescaled.
MODEL_VLEN = {"sifive-x280": 512, "sifive-p670": 128, "sifive-p470": 128, "spacemit-x60": 256,
              "sifive-x390": 1024}


def device_vlen(device) -> int:
    """The device's VLEN in bits: its `vlenN` feature, else QEMU's `vlen=N` in its runner; 0 unknown."""
    for f in getattr(device, "features", ()) or ():
        m = re.fullmatch(r"vlen(\d+)", str(f))
        if m:
            return int(m.group(1))
    for a in getattr(device, "runner", ()) or ():
        m = re.search(r"\bvlen=(\d+)", str(a))
        if m:
            return int(m.group(1))
    return 0


def vlen_note(device) -> str:
    """'' when a RISC-V device's core model matches its VLEN; else how its costs are rescaled, or
    why they cannot be (`devices check` prints it)."""
    if getattr(device, "arch", "") != "riscv64" or not getattr(device, "core_model", ""):
        return ""
    have, model = device_vlen(device), MODEL_VLEN.get(device.core_model)
    if not model:
        return f"core model {device.core_model} has no known VLEN: vector costs are not rescaled to the device's"
    if not have:
        return (f"the device's VLEN is unknown (no vlenN feature or vlen= in its runner): costed as "
                f"{device.core_model}'s VLEN {model}")
    if have == model:
        return ""
    return (f"VLEN {have} costed on {device.core_model} (VLEN {model}): every LMUL is costed "
            f"{model // have if model > have else have // model}x {'smaller' if model > have else 'larger'}, "
            f"so an op costs what its data costs on that core's datapath")


def _run(cmd: list[str], text: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f} s")


def _mc_cmd(core: CoreModel) -> list[str]:
    cmd = [core.mc, "--disassemble", f"-triple={core.triple}", f"-mcpu={core.cpu}"]
    return cmd + ([f"-mattr={core.attr}"] if core.attr else [])


def _asm_lines(stdout: str) -> list[str]:
    out = []
    for line in stdout.splitlines():
        s = line.strip()
        if s and not s.startswith((".", "#", ";")):
            out.append(s)
    return out


_WARN = re.compile(r"<stdin>:(\d+):\d+: (?:warning|error)")
# one instruction that separates blocks in a batched disassembly (its own line of input)
SENTINEL = {"riscv": ("0x73 0x00 0x10 0x00", "ebreak"), "aarch64": ("0x40 0x4f 0x2f 0xd4", "brk #0x7a7a"),
            "x86": ("0x0f 0x0b", "ud2")}


def _sentinel(core: CoreModel) -> tuple[str, str]:
    return SENTINEL[next(k for k in SENTINEL if core.triple.startswith(k))]


def disassemble(core: CoreModel, blocks: list[tuple[bytes, int]]) -> list[list[str] | None]:
    """Assembly lines of each (code, n_insns) block; None for a block llvm-mc cannot decode into
    exactly n_insns instructions. One batched call, blocks separated by a sentinel instruction and
    counted one by one; a batch that does not line up is redone one block per call."""
    result: list[list[str] | None] = [None] * len(blocks)
    todo = [i for i, (code, _) in enumerate(blocks) if code]
    if not todo:
        return result
    sent_bytes, sent_asm = _sentinel(core)
    text = "".join(" ".join(f"0x{b:02x}" for b in blocks[i][0]) + "\n" + sent_bytes + "\n" for i in todo)
    p = _run(_mc_cmd(core), text)
    chunks: list[list[str]] = [[]]
    for line in _asm_lines(p.stdout):
        if " ".join(line.split()) == sent_asm:
            chunks.append([])
        else:
            chunks[-1].append(line)
    chunks = chunks[:-1] if chunks and not chunks[-1] else chunks
    bad = {todo[(int(m.group(1)) - 1) // 2] for m in _WARN.finditer(p.stderr) if 0 < int(m.group(1)) <= 2 * len(todo)}
    if p.returncode == 0 and len(chunks) == len(todo):
        for i, lines in zip(todo, chunks):
            if i not in bad and len(lines) == blocks[i][1]:
                result[i] = lines
        todo = [i for i in todo if result[i] is None and i not in bad]
    for i in todo:       # the batch did not line up for these: one block at a time
        code, n = blocks[i]
        q = _run(_mc_cmd(core), " ".join(f"0x{b:02x}" for b in code) + "\n")
        lines = _asm_lines(q.stdout)
        if q.returncode == 0 and not _WARN.search(q.stderr) and len(lines) == n:
            result[i] = lines
    return result


def disassemble_prefix(core: CoreModel, code: bytes, n: int) -> list[str] | None:
    """The first n instructions of `code` whose last instruction is cut short: llvm-mc may warn
    only within its last MAX_INSN_TAIL bytes; None otherwise."""
    p = _run(_mc_cmd(core), " ".join(f"0x{b:02x}" for b in code) + "\n")
    lines = _asm_lines(p.stdout)
    columns = [int(m.group(1)) for m in re.finditer(r"<stdin>:\d+:(\d+): (?:warning|error)", p.stderr)]
    tail = 5 * max(0, len(code) - MAX_INSN_TAIL) + 1     # input column where the last 15 bytes start
    if p.returncode != 0 or len(lines) < n or any(c < tail for c in columns):
        return None
    return lines[:n]


MAX_INSN_TAIL = 15       # bytes of a cut-short last instruction


VSTATE = re.compile(r"e(8|16|32|64)m(f?)(1|2|4|8)")
WORST_VSTATES = ("e8m8", "e16m8", "e32m8", "e64m8")     # unknown vector state: the worst of these


_LMULS = ("mf8", "mf4", "mf2", "m1", "m2", "m4", "m8")


def rescale_lmul(lmul: str, shift: int) -> str:
    """LMUL `lmul` ("m8", "mf2") `shift` steps smaller (negative: larger), clamped to mf8..m8: an
    LMUL-8 op on a VLEN-256 device moves the data of an LMUL-4 op on a VLEN-512 core."""
    i = _LMULS.index(lmul.lower())
    return _LMULS[min(len(_LMULS) - 1, max(0, i - shift))]


_VSET_IMM = re.compile(r"^(vseti?vli\s+[^,]+,\s*[^,]+,\s*e\d+,\s*)(mf?\d)\b")


def rescale_asm(asm: list[str], shift: int) -> list[str]:
    """The LMUL of every vsetvli/vsetivli rescaled (llvm-mca follows them inside a block)."""
    if not shift:
        return asm
    return [_VSET_IMM.sub(lambda m: m.group(1) + rescale_lmul(m.group(2), shift), a) for a in asm]


def _instruments(vstate: str, shift: int = 0) -> list[str]:
    m = VSTATE.fullmatch(vstate)
    if not m:       # none (no vsetvl executed yet): llvm-mca's default, stated so no state leaks
        return ["# LLVM-MCA-RISCV-LMUL M1", "# LLVM-MCA-RISCV-SEW E32"]
    lmul = rescale_lmul(("mf" if m.group(2) else "m") + m.group(3), shift).upper()
    return [f"# LLVM-MCA-RISCV-LMUL {lmul}", f"# LLVM-MCA-RISCV-SEW E{m.group(1)}"]


_REGISTER_VSETVL = re.compile(r"^vsetvl\s")


def worst_case_variants(asm: list[str], vstate: str, riscv: bool, shift: int = 0) -> list[tuple[list[str], str]]:
    """The (asm, vstate) variants a block is costed under; its cost is the most expensive one.
    RISC-V: a block entered with an unknown vector state, or holding a register-form `vsetvl`
    (whose vtype is only known at run time), is costed under each SEW at LMUL 8, the state
    stated again right after every register-form vsetvl. Anything else: the block as it is."""
    if not riscv:
        return [(asm, vstate)]
    unknown = not VSTATE.fullmatch(vstate) and vstate != "none"
    if not unknown and not any(_REGISTER_VSETVL.match(a) for a in asm):
        return [(asm, vstate)]
    out = []
    for worst in WORST_VSTATES:
        lines = []
        for a in asm:
            lines.append(a)
            if _REGISTER_VSETVL.match(a):
                lines += _instruments(worst, shift)
        out.append((lines, worst if unknown else vstate))
    return out


def _mca_cmd(core: CoreModel, iterations: int = ITERATIONS, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [core.mca, f"-mtriple={core.triple}", f"-mcpu={core.cpu}", f"-iterations={iterations}",
           "--skip-unsupported-instructions=any", "--resource-pressure=0", "--instruction-info=0", *extra]
    return cmd + ([f"-mattr={core.attr}"] if core.attr else [])


_REGION = re.compile(r"^\[(\d+)\] Code Region - r(\d+)", re.M)


def _parse_regions(stdout: str) -> dict[int, tuple[float, int, float]]:
    """region index -> (cycles per iteration, instructions modelled per iteration, the region's
    reciprocal throughput: its cycles per iteration if only the core's resources limited it, no
    dependency; llvm-mca's Block RThroughput)."""
    out = {}
    heads = list(_REGION.finditer(stdout))
    for k, h in enumerate(heads):
        body = stdout[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(stdout)]
        it = re.search(r"Iterations:\s+(\d+)", body)
        ins = re.search(r"Instructions:\s+(\d+)", body)
        cyc = re.search(r"Total Cycles:\s+(\d+)", body)
        rth = re.search(r"Block RThroughput:\s+([\d.]+)", body)
        if it and cyc and int(it.group(1)) > 0:
            n = int(it.group(1))
            per = int(cyc.group(1)) / n
            out[int(h.group(2))] = (per, int(ins.group(1)) // n if ins else 0,
                                    min(per, float(rth.group(1))) if rth else per)
    return out


def _mca_batch(core: CoreModel, items: list[tuple[list[str], str]],
               timeout: float = TIMEOUT_S, iterations: int = ITERATIONS,
               extra: tuple[str, ...] = ()) -> dict[int, tuple[float, int, float]]:
    src = []
    for i, (asm, vstate) in enumerate(items):
        src.append(f"# LLVM-MCA-BEGIN r{i}")
        if core.is_riscv:
            src.extend(_instruments(vstate, core.lmul_shift))
        src.extend(rescale_asm(asm, core.lmul_shift) if core.is_riscv else asm)
        src.append(f"# LLVM-MCA-END r{i}")
    p = _run(_mca_cmd(core, iterations, extra), "\n".join(src) + "\n", timeout)
    return _parse_regions(p.stdout) if p.returncode == 0 else {}


def sequence_cycles(core: CoreModel, asm: list[str], iterations: int,
                    store_queue: int = 0) -> tuple[float, int, float] | None:
    """(cycles per iteration, instructions modelled per iteration, reciprocal throughput) of one
    straight-line sequence (several blocks in the order they ran) iterated `iterations` times, with
    at most `store_queue` stores in flight (0: the core model's own limit); None if llvm-mca failed
    or the sequence holds an x86 string instruction (costed per block, never by llvm-mca)."""
    if core.is_riscv or any(REP_STRING.match(a) for a in asm):
        return None
    extra = (f"--squeue={store_queue}",) if store_queue else ()
    return _mca_batch(core, [(asm, "-")], TIMEOUT_S, iterations, extra).get(0)


# The slowest instructions of each ISA, each as a dependent chain (so its latency counts): the
# most any one instruction can cost on the core model, charged for what the model cannot time.
_WORST_PROBES = {
    "riscv": [["fdiv.d fa0, fa0, fa1"], ["fsqrt.d fa0, fa0"], ["div a0, a0, a1"], ["divu a0, a0, a1"],
              ["vsetvli zero, a1, e64, m8, ta, ma", "vfdiv.vv v8, v8, v16"],
              ["vsetvli zero, a1, e64, m8, ta, ma", "vfsqrt.v v8, v8"],
              ["vsetvli zero, a1, e64, m8, ta, ma", "vdiv.vv v8, v8, v16"],
              ["vsetvli zero, a1, e8, m8, ta, ma", "vdiv.vv v8, v8, v16"]],
    "aarch64": [["fdiv d0, d0, d1"], ["fsqrt d0, d0"], ["sdiv x0, x0, x1"], ["fdiv v0.2d, v0.2d, v1.2d"],
                ["fsqrt v0.2d, v0.2d"], ["fdiv z0.d, p0/m, z0.d, z1.d"], ["fsqrt z0.d, p0/m, z0.d"]],
    "x86": [["divsd %xmm1, %xmm0"], ["sqrtsd %xmm0, %xmm0"], ["idivq %rcx"], ["vdivpd %ymm1, %ymm0, %ymm0"],
            ["vsqrtpd %ymm0, %ymm0"], ["vdivpd %zmm1, %zmm0, %zmm0"], ["vsqrtpd %zmm0, %zmm0"]],
}
FLOOR_WORST_CPI = 8.0     # never less than this, whatever the probes give


def worst_cpi(core: CoreModel, cache: "Cache | None" = None) -> float:
    """Cycles charged per instruction the model cannot decode or time: the cycles per iteration of
    the most expensive probe chain on this core model, at least FLOOR_WORST_CPI."""
    key = hashlib.sha256((core.key() + "|worst-cpi").encode()).hexdigest()
    hit = cache.get(key) if cache is not None else None
    if hit is not None and isinstance(hit.get("worst_cpi"), (int, float)):
        return float(hit["worst_cpi"])
    probes = _WORST_PROBES[next(k for k in _WORST_PROBES if core.triple.startswith(k))]
    items = [(p, "e64m8") for p in probes]
    got = _mca_batch(core, items)
    if len(got) != len(items):      # a probe the core lacks (no SVE, no AVX-512) sinks the batch
        got = {i: c for i, it in enumerate(items) for c in [_mca_batch(core, [it], BLOCK_TIMEOUT_S).get(0)] if c}
    worst = max([FLOOR_WORST_CPI, *(c[0] for c in got.values())])
    if cache is not None:
        cache.put(key, {"worst_cpi": worst})
    return worst


# x86 rep-prefixed string instructions: QEMU executes one iteration per block execution, so a
# 4 KiB `rep stosb` is 4096 executions of a one-instruction block. llvm-mca would charge each
# one the full instruction; fast-string hardware (ERMS) moves ~32 bytes per cycle in L1.
REP_STRING = re.compile(r"^rep\w*\s+(stos|movs|lods|scas|cmps)([bwlq])\b")
REP_BYTES_PER_CYCLE = 32.0


def _rep_string_cost(asm: list[str]) -> tuple[float, int, float] | None:
    if len(asm) != 1:
        return None
    m = REP_STRING.match(asm[0])
    if not m:
        return None
    size = {"b": 1, "w": 2, "l": 4, "q": 8}[m.group(2)]
    cost = size / REP_BYTES_PER_CYCLE if m.group(1) in ("stos", "movs") else 1.0
    return cost, 1, cost


def block_cycles(core: CoreModel, items: list[tuple[list[str], str]]) -> list[tuple[float, int, float] | None]:
    """(steady-state cycles per execution, insns llvm-mca modelled, reciprocal throughput) of each
    (asm, vstate) item;
    None where llvm-mca could not time it. Instructions llvm-mca must not time (UNTIMED: a system
    call, cpuid, xsave) are left out of the region and so not counted as modelled: the caller
    charges each of them the worst case."""
    out: list[tuple[float, int, float] | None] = [None] * len(items)
    rep = {i: _rep_string_cost(asm) for i, (asm, _) in enumerate(items)} if core.triple.startswith("x86") else {}
    timed_items: dict[int, tuple[list[str], str]] = {}
    for i, (asm, vstate) in enumerate(items):
        if rep.get(i):
            out[i] = rep[i]
            continue
        kept = [a for a in asm if not untimed(core, a)]
        if kept:
            timed_items[i] = (kept, vstate)
        else:
            out[i] = (0.0, 0, 0.0)                 # nothing llvm-mca may time: all charged by the caller
    timeable = list(timed_items)
    got = _mca_batch(core, [timed_items[i] for i in timeable]) if timeable else {}
    for k, i in enumerate(timeable):
        out[i] = got.get(k)
    if len(got) != len(timeable):   # the batch failed (one bad block sinks it): one at a time
        for i in timeable:
            if out[i] is None:
                out[i] = _mca_batch(core, [timed_items[i]], BLOCK_TIMEOUT_S).get(0)
    return out


class Cache:
    """One JSON file per key under `root` (the workspace cache's mca/ folder)."""

    def __init__(self, root: Path | None):
        self.root = root

    @staticmethod
    def key(core: CoreModel, code: bytes, vstate: str) -> str:
        h = hashlib.sha256(core.key().encode())
        h.update(b"\0" + vstate.encode() + b"\0" + code)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        if self.root is None:
            return
        p = self._path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(value, f)
            os.replace(tmp, p)
        except OSError:
            pass
