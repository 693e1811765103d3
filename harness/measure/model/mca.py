"""llvm-mc / llvm-mca: instruction bytes -> assembly -> steady-state cycles per block.

Batched: one llvm-mc call disassembles every block (one input line per block, so a warning's
line number names the block it belongs to) and one llvm-mca call times every block as its own
code region (`# LLVM-MCA-BEGIN`), each iterated ITERATIONS times; a block's steady-state cost is
Total Cycles / Iterations. On RISC-V every region starts with the vector-state instruments
(`# LLVM-MCA-RISCV-LMUL`, `# LLVM-MCA-RISCV-SEW`): llvm-mca carries the state across regions
and crashes on an LMUL without a SEW. Results are cached on disk per (block bytes, vector
state, triple, cpu, attributes, LLVM version, iterations).
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
CACHE_FORMAT = "mca-v2"
LLVM_VERSIONS = ("19", "20", "18", "21", "17")
TRIPLES = {"riscv64": "riscv64-unknown-linux-gnu", "aarch64": "aarch64-linux-gnu",
           "x86_64": "x86_64-linux-gnu"}
TIMEOUT_S = 300          # one llvm-mc / batched llvm-mca call
BLOCK_TIMEOUT_S = 10     # llvm-mca on one block (it loops forever on some, e.g. xsave)
# Instructions llvm-mca cannot time soundly (it hangs on xsave/xrstor) or that leave the
# user-level model (system calls, cpuid): blocks holding them fall back to 1 cycle/insn.
UNTIMED = re.compile(r"^(xsave|xrstor|fxsave|fxrstor|cpuid|rdtsc|syscall|sysenter|ecall|ebreak|svc|hvc|int\b|int3)")


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

    @property
    def label(self) -> str:
        return f"{self.cpu} (LLVM {self.llvm_version})"

    @property
    def is_riscv(self) -> bool:
        return self.triple.startswith("riscv")

    def key(self) -> str:
        return "|".join((CACHE_FORMAT, self.triple, self.cpu, self.attr, self.llvm_version, str(ITERATIONS)))


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
    return CoreModel(triple=triple, cpu=cpu, attr=getattr(device, "mca_attr", ""), mc=mc, mca=mca,
                     llvm_version=_llvm_version(mca))


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


def disassemble(core: CoreModel, blocks: list[tuple[bytes, int]]) -> list[list[str] | None]:
    """Assembly lines of each (code, n_insns) block; None for a block llvm-mc cannot decode."""
    result: list[list[str] | None] = [None] * len(blocks)
    todo = [i for i, (code, _) in enumerate(blocks) if code]
    for _attempt in range(2):
        if not todo:
            return result
        text = "".join(" ".join(f"0x{b:02x}" for b in blocks[i][0]) + "\n" for i in todo)
        p = _run(_mc_cmd(core), text)
        bad = {todo[int(m.group(1)) - 1] for m in _WARN.finditer(p.stderr) if 0 < int(m.group(1)) <= len(todo)}
        lines = _asm_lines(p.stdout)
        if not bad and p.returncode == 0 and len(lines) == sum(blocks[i][1] for i in todo):
            pos = 0
            for i in todo:
                n = blocks[i][1]
                result[i] = lines[pos:pos + n]
                pos += n
            return result
        todo = [i for i in todo if i not in bad]
    for i in todo:       # the batch did not line up: one block at a time
        code = blocks[i][0]
        p = _run(_mc_cmd(core), " ".join(f"0x{b:02x}" for b in code) + "\n")
        if p.returncode == 0 and not _WARN.search(p.stderr):
            result[i] = _asm_lines(p.stdout) or None
    return result


def _instruments(vstate: str) -> list[str]:
    m = re.fullmatch(r"e(8|16|32|64)m(f?)(1|2|4|8)", vstate)
    if not m:       # unknown / none: llvm-mca's default, stated so no state leaks from the last block
        return ["# LLVM-MCA-RISCV-LMUL M1", "# LLVM-MCA-RISCV-SEW E32"]
    lmul = ("MF" if m.group(2) else "M") + m.group(3)
    return [f"# LLVM-MCA-RISCV-LMUL {lmul}", f"# LLVM-MCA-RISCV-SEW E{m.group(1)}"]


def _mca_cmd(core: CoreModel) -> list[str]:
    cmd = [core.mca, f"-mtriple={core.triple}", f"-mcpu={core.cpu}", f"-iterations={ITERATIONS}",
           "--skip-unsupported-instructions=any", "--resource-pressure=0", "--instruction-info=0"]
    return cmd + ([f"-mattr={core.attr}"] if core.attr else [])


_REGION = re.compile(r"^\[(\d+)\] Code Region - r(\d+)", re.M)


def _parse_regions(stdout: str) -> dict[int, tuple[float, int]]:
    """region index -> (cycles per iteration, instructions modelled per iteration)."""
    out = {}
    heads = list(_REGION.finditer(stdout))
    for k, h in enumerate(heads):
        body = stdout[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(stdout)]
        it = re.search(r"Iterations:\s+(\d+)", body)
        ins = re.search(r"Instructions:\s+(\d+)", body)
        cyc = re.search(r"Total Cycles:\s+(\d+)", body)
        if it and cyc and int(it.group(1)) > 0:
            n = int(it.group(1))
            out[int(h.group(2))] = (int(cyc.group(1)) / n, int(ins.group(1)) // n if ins else 0)
    return out


def _mca_batch(core: CoreModel, items: list[tuple[list[str], str]],
               timeout: float = TIMEOUT_S) -> dict[int, tuple[float, int]]:
    src = []
    for i, (asm, vstate) in enumerate(items):
        src.append(f"# LLVM-MCA-BEGIN r{i}")
        if core.is_riscv:
            src.extend(_instruments(vstate))
        src.extend(asm)
        src.append(f"# LLVM-MCA-END r{i}")
    p = _run(_mca_cmd(core), "\n".join(src) + "\n", timeout)
    return _parse_regions(p.stdout) if p.returncode == 0 else {}


# x86 rep-prefixed string instructions: QEMU executes one iteration per block execution, so a
# 4 KiB `rep stosb` is 4096 executions of a one-instruction block. llvm-mca would charge each
# one the full instruction; fast-string hardware (ERMS) moves ~32 bytes per cycle in L1.
REP_STRING = re.compile(r"^rep\w*\s+(stos|movs|lods|scas|cmps)([bwlq])\b")
REP_BYTES_PER_CYCLE = 32.0


def _rep_string_cost(asm: list[str]) -> tuple[float, int] | None:
    if len(asm) != 1:
        return None
    m = REP_STRING.match(asm[0])
    if not m:
        return None
    size = {"b": 1, "w": 2, "l": 4, "q": 8}[m.group(2)]
    return (size / REP_BYTES_PER_CYCLE if m.group(1) in ("stos", "movs") else 1.0), 1


def block_cycles(core: CoreModel, items: list[tuple[list[str], str]]) -> list[tuple[float, int] | None]:
    """(steady-state cycles per execution, insns llvm-mca modelled) of each (asm, vstate) item;
    None where llvm-mca could not time it."""
    out: list[tuple[float, int] | None] = [None] * len(items)
    rep = {i: _rep_string_cost(asm) for i, (asm, _) in enumerate(items)} if core.triple.startswith("x86") else {}
    timeable = [i for i, (asm, _) in enumerate(items)
                if not rep.get(i) and not any(UNTIMED.match(a) for a in asm)]
    for i, c in rep.items():
        if c:
            out[i] = c
    got = _mca_batch(core, [items[i] for i in timeable]) if timeable else {}
    for k, i in enumerate(timeable):
        out[i] = got.get(k)
    if len(got) != len(timeable):   # the batch failed (one bad block sinks it): one at a time
        for i in timeable:
            if out[i] is None:
                out[i] = _mca_batch(core, [items[i]], BLOCK_TIMEOUT_S).get(0)
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
