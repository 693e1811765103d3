"""Plain records passed between the steps of the data flow (see docs/ARCHITECTURE.md).

Kernel -> Builder -> Artifact -> Transport -> RunResult -> Checker -> CheckResult -> Stats -> Trial -> Store.
Errors are values here (a `Status` plus text), never exceptions leaking out of a trial.
"""
from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Status(str, enum.Enum):
    """One per trial. `ok` is the only status whose timing is trusted."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    LINK_ERROR = "link_error"
    REJECTED = "rejected"          # the object gate, a forged/malformed result record, extra cores
    CRASH = "crash"                # killed by a signal (named in the error text)
    TIMEOUT = "timeout"            # killed at the device's time limit
    WRONG_ANSWER = "wrong_answer"  # failed the correctness gate (max error and where)
    SUSPICIOUS = "suspicious"      # verified, but faster than the device can physically be
    DEVICE_ERROR = "device_error"  # runner/toolchain/transport trouble, not the kernel's fault
    INTERNAL_ERROR = "internal_error"  # a bug of tensorop's (never counted towards quarantine)

    def __str__(self) -> str:  # so f-strings and tables print the value
        return self.value


@dataclass(frozen=True)
class BuildResult:
    """What the Builder produced for one (kernel source, device toolchain)."""

    status: Status
    log: str                       # compiler and linker output, verbatim
    artifact: "Artifact | None" = None
    error: str = ""


@dataclass(frozen=True)
class CodeMap:
    """Where the parts of a linked CPU program are, at the addresses it runs at (a position-
    dependent executable): the kernel's code, the driver's profiling function (the only code that
    may call the counting markers) and the two markers. The QEMU plugin gets them as options."""

    kernel: tuple[int, int]        # [lo, hi) of .tensorop_kernel
    caller: tuple[int, int]        # [lo, hi) of the driver's run_profile
    begin: int                     # tensorop_region_begin
    end: int                       # tensorop_region_end

    def plugin_options(self) -> tuple[str, ...]:
        opts = [f"begin={self.begin:#x}", f"end={self.end:#x}", f"caller={self.caller[0]:#x}-{self.caller[1]:#x}"]
        if self.kernel[1] > self.kernel[0]:
            opts.append(f"kernel={self.kernel[0]:#x}-{self.kernel[1]:#x}")
        return tuple(opts)

    def to_json(self) -> dict:
        return {"kernel": list(self.kernel), "caller": list(self.caller), "begin": self.begin, "end": self.end}

    @classmethod
    def from_json(cls, d: dict | None) -> "CodeMap | None":
        if not d:
            return None
        return cls(kernel=tuple(d["kernel"]), caller=tuple(d["caller"]), begin=int(d["begin"]), end=int(d["end"]))


@dataclass(frozen=True)
class Artifact:
    """A linked timing-driver executable plus the run-time libraries it needs beside it."""

    key: str                       # content hash of everything that went into it
    executable: Path
    runtime_libs: tuple[Path, ...] = ()
    toolchain: str = ""
    toolchain_version: str = ""
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    code_map: CodeMap | None = None   # CPU builds: where the kernel and the driver's markers are


@dataclass(frozen=True)
class RunResult:
    """One execution of an artifact on a device, as the transport saw it."""

    returncode: int | None         # None when killed for timeout or never started
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool = False
    signal: str | None = None      # e.g. "SIGSEGV" when killed by a signal
    files: dict[str, bytes] = field(default_factory=dict)  # requested output files
    command: tuple[str, ...] = ()  # the full command line as run (runner prefix included)
    device_error: str = ""         # transport-level failure, if any
    channel: bytes = b""           # what the program (and the QEMU plugin) wrote to fd 3
    profile: bytes = b""           # what the QEMU plugin wrote to fd 4 (its block profile)


@dataclass(frozen=True)
class CheckResult:
    """The correctness gate's verdict over all check cases."""

    ok: bool
    max_rel_err: float | None      # worst relative Frobenius error over the cases
    detail: str = ""               # where and how it failed
    cases: int = 0


@dataclass(frozen=True)
class Summary:
    """Statistics of the per-call times of one timed run (seconds)."""

    n: int
    median: float
    ci_lo: float
    ci_hi: float
    ci_level: float                # the achieved coverage of [ci_lo, ci_hi]
    minimum: float
    mean: float
    std: float
    cv: float
    outliers: int                  # Tukey fences, 1.5 IQR

    @property
    def ci_half_rel(self) -> float:
        return (self.ci_hi - self.ci_lo) / 2 / self.median if self.median > 0 else float("inf")


@dataclass
class Trial:
    """One (kernel, device, op, shape) measurement attempt, as stored."""

    device: str
    op: str
    shape: tuple[int, ...]
    dtype: str
    kernel: str                    # a label: file name, "openblas", "naive", "generated:..."
    source_hash: str
    status: Status
    error: str = ""
    arch: str = ""
    emulated: bool = False         # QEMU user mode: the speed figure is modelled cycles
    emulation: str = ""            # "system": a board under QEMU system mode; its times are the emulator's
    transport: str = "local"
    toolchain: str = ""
    toolchain_version: str = ""
    cflags: tuple[str, ...] = ()
    command: tuple[str, ...] = ()  # runner + driver command line of the timed run
    max_rel_err: float | None = None
    samples: tuple[float, ...] = ()
    inner_loops: int = 0
    summary: Summary | None = None
    gflops: float | None = None
    insns: int | None = None       # emulated: dynamic instructions of one call (secondary figure)
    cycles: float | None = None    # emulated: modelled cycles of one call (the speed figure)
    model: str = ""                # emulated: the core model and LLVM version that gave `cycles`
    flushed: bool = False
    build_log: str = ""
    campaign: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """The output contract of `--json` (one object per trial)."""
        s = self.summary
        return {
            "id": self.id,
            "device": self.device,
            "kernel": self.kernel,
            "op": self.op,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "status": self.status.value,
            "error": self.error or None,
            "max_rel_err": self.max_rel_err,
            "median_s": s.median if s else None,
            "ci95_s": [s.ci_lo, s.ci_hi] if s else None,
            "min_s": s.minimum if s else None,
            "cv": s.cv if s else None,
            "outliers": s.outliers if s else None,
            "n": s.n if s else 0,
            "inner_loops": self.inner_loops,
            "gflops": self.gflops,
            "gflops_basis": ("modelled" if self.emulated else "emulated_time" if self.emulation == "system"
                             else "time") if self.gflops else None,
            "cycles": self.cycles,
            **self._memory_json(),
            "model": self.model or None,
            "insns": self.insns,
            "emulated": self.emulated or self.emulation == "system",
            "emulation": self.emulation or ("user" if self.emulated else None),
            "flushed": self.flushed,
            "toolchain": self.toolchain,
            "toolchain_version": self.toolchain_version,
            "source_hash": self.source_hash,
            "command": list(self.command),
            "paired": self.meta.get("paired"),
        }

    def _memory_json(self) -> dict[str, Any]:
        """Beside modelled `cycles`: the core and memory parts of the memory-aware model, the bound
        that decides it and the miss counts per level (harness/measure/model/memory.py); {} otherwise."""
        m = self.meta.get("model") or {}
        return {k: m.get(k) for k in ("core_cycles", "memory_cycles", "bound", "misses")} if "core_cycles" in m else {}


def source_hash(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()[:16]


@dataclass(frozen=True)
class Kernel:
    """A kernel to measure: C source implementing the op's ABI function."""

    label: str
    source: bytes
    name: str = "kernel.c"
    allow_blas: bool = False             # the harness's own baselines only: the object gate is skipped
    libs: tuple[Path, ...] = ()
    relax: tuple[str, ...] = ()          # object-gate rules relaxed for a trusted user kernel (bench --trust)
    cflags: tuple[str, ...] = ()         # the kernel's own compiler flags (a CUDA baseline's -I of its library)
    path: Path | None = field(default=None, compare=False)   # the file it was read from (its git provenance)
    commit: str = field(default="", compare=False)           # the git commit it was read from (compare --base-ref)

    @classmethod
    def from_file(cls, path: Path, label: str | None = None, relax: tuple[str, ...] = ()) -> "Kernel":
        return cls(label=label or path.name, source=path.read_bytes(), name=path.name, relax=relax,
                   path=path.resolve())

    @property
    def hash(self) -> str:
        return source_hash(self.source)
