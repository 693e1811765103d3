"""The expert generator: the embedded default when no LLM endpoint is configured.

It proposes kernels rendered from the parametric templates (harness/generate/templates/: the
registry chooses the family for the device and task): the best-known seed points first, then
points of the declared space ranked by a cost model; a candidate that was already tried is not
proposed again, and after the primary family's points it tries the device's alternative
primitive sets (e.g. NEON beside SVE).
"""
from __future__ import annotations

from harness.generate.base import Candidate, Feedback, Generator, Task
from harness.generate.factors import HardwareFactors
from harness.generate.templates import registry


class ExpertGenerator(Generator):
    name = "expert"

    def __init__(self, points: int = 4, alternatives: int = 1):
        self.points = points                 # candidates to propose in all
        self.alternatives = alternatives     # seed points of each alternative primitive set
        self._queue: list[registry.Proposal] | None = None

    def plan(self, hw: HardwareFactors, n: int, dtype: str = "f32") -> list[tuple[str, dict]]:
        """The first n (primitive set, point) pairs of a CPU GEMM (registry.gemm_points)."""
        return registry.gemm_points(hw, n, dtype, self.alternatives)

    def propose(self, task: Task, hardware: HardwareFactors, history: list[Feedback]) -> Candidate | None:
        if self._queue is None:
            self._queue = registry.expert_plan(hardware, task.op, task.dtype, self.points, self.alternatives)
        tried = {f.params.get("_key") for f in history}
        while self._queue:
            p = self._queue.pop(0)
            if p.key in tried:
                continue
            return Candidate(source=p.source, params={**p.params, "_key": p.key}, label=p.label)
        return None
