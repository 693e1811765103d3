"""The generator interface and the records of the generate loop.

    Generator.propose(task, hardware, history) -> Candidate

A Candidate is a complete kernel source (or a rejection: the reason why an answer could not
become one, which goes back to the generator as feedback). Each evaluated candidate leaves a
Feedback record in the history that the next proposal sees.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from harness.ops import get_op


@dataclass(frozen=True)
class Task:
    op: str                          # "gemm", "conv2d", ... (harness.ops)
    shape: tuple[int, ...]           # the op's shape tuple (gemm: M, N, K)
    dtype: str                       # "f32"
    devices: tuple[str, ...]         # device names (resolved)
    prompt: str = ""

    @property
    def the_op(self):
        return get_op(self.op, self.dtype)

    @property
    def shape_text(self) -> str:
        return self.the_op.shape_text(self.shape)

    @property
    def folder(self) -> str:
        return self.the_op.folder(self.shape)


@dataclass
class Candidate:
    source: str = ""                 # the kernel's C source ("" when rejected)
    params: dict[str, Any] = field(default_factory=dict)
    notes: str = ""                  # what the generator says about it (shown, fed back, in meta.json)
    label: str = ""                  # short name for tables
    rejection: str = ""              # why the answer was not usable (guards)

    @property
    def rejected(self) -> bool:
        return bool(self.rejection)


@dataclass
class Feedback:
    """What the loop learnt from one candidate, as shown to the generator next round."""

    round: int
    label: str
    status: str                      # a trial status or "rejected"
    message: str = ""                # compiler output / error figures / measured performance
    params: dict[str, Any] = field(default_factory=dict)
    gflops: float | None = None
    insns: int | None = None
    cycles: float | None = None      # emulated: modelled cycles per call
    median_s: float | None = None
    vs_openblas: float | None = None   # >1 is faster than OpenBLAS (harness.measure.compare: paired time, modelled cycles)
    basis: str = ""                  # "time" (paired) or "modelled_cycles"
    source_hash: str = ""
    trial_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_text(self) -> str:
        head = f"Round {self.round} ({self.label}): {self.status}"
        return head + (f"\n{self.message}" if self.message else "")


class Generator(ABC):
    name: str = "generator"
    model: str = ""

    @abstractmethod
    def propose(self, task: Task, hardware, history: list[Feedback]) -> Candidate | None:
        """The next candidate, or None when the generator has nothing more to try."""

    def describe(self) -> dict:
        return {"generator": self.name, "model": self.model}
