"""The expert generator: the embedded default when no LLM endpoint is configured.

It proposes kernels rendered from the parametric templates (templates.py) for the device's
primitive set: the best-known seed points first, then points of the declared space ranked by
a cost model; a point that failed to compile or verify is not revisited, and after the
primary set's points it tries the device's alternative primitive sets (e.g. NEON beside SVE).
"""
from __future__ import annotations

from itertools import islice

from harness.generate.templates.points import candidates, key
from harness.generate.base import Candidate, Feedback, Generator, Task
from harness.generate.hardware import HardwareFactors
from harness.generate.templates.cpu_gemm import SETS, fit_blocks, render


class ExpertGenerator(Generator):
    name = "expert"

    def __init__(self, points: int = 4, alternatives: int = 1):
        self.points = points                 # candidates to propose in all
        self.alternatives = alternatives     # seed points of each alternative primitive set
        self._queue: list[tuple[str, dict]] | None = None

    def plan(self, hw: HardwareFactors, n: int, dtype: str = "f32") -> list[tuple[str, dict]]:
        """The first n (primitive set, point) pairs: the primary set's best points, then a seed
        of each alternative set (so e.g. NEON is measured beside SVE). Low-precision GEMM on a
        device with AMX for its dtype: the AMX template's seeds first, then the widening template."""
        from harness.generate.templates import amx as amx_templates
        if amx_templates.available(dtype, hw.features) and hw.arch in ("x86_64", "amd64"):
            amx = [("amx", dict(p)) for p in amx_templates.SEEDS[:max(1, n - 1)]]
            if hw.threads > 1:
                amx = [(s, {**p, "T": hw.threads}) for s, p in amx]
            return (amx + self.plan(hw, 1))[:n]
        from harness.generate.templates import lowp as native_lowp
        native = native_lowp.available(dtype, hw.arch, hw.features) if dtype != "f32" else []
        if native:      # the device's own low-precision instructions (native_lowp.py), then the widening template
            return self._plan_native(hw, n, native)
        ctx = hw.context()
        ps = SETS[hw.primitive_set]
        primary = [(ps.name, p) for p in islice(candidates(ps.space, list(ps.seeds), ps.cost, ctx), n)]
        if primary:     # the best-known point, its k block sized to this device's L1 (templates.fit_blocks)
            primary[0] = (ps.name, fit_blocks(ps, primary[0][1], ctx))
        if hw.threads > 1:  # the task's thread count (not a tuned parameter)
            primary = [(n, {**p, "T": hw.threads}) for n, p in primary]
        extra = []
        for alt in hw.alternatives:
            if alt == "scalar":
                continue
            a = SETS[alt]
            extra += [(alt, p) for p in islice(candidates(a.space, list(a.seeds), a.cost, ctx), self.alternatives)]
        if n <= 2 or not extra:
            return primary[:n]
        keep = max(2, n - len(extra))
        return (primary[:keep] + extra)[:n]

    def _plan_native(self, hw: HardwareFactors, n: int, names: list[str]) -> list[tuple[str, dict]]:
        """Low-precision GEMM with native sets: the first preferred set's seeds, a seed of each other
        native set, and the widening template's best point (before a set that is not preferred, such as
        in-register FCVTL widening, which models slower than widening once while packing)."""
        from harness.generate.templates.lowp import SETS as NATIVE
        ctx = hw.context()
        sets = [NATIVE[s] for s in names]
        first = [s for s in sets if s.prefer][:1]
        native = [(s.name, dict(p)) for s in first for p in s.seeds if s.space.valid(p, ctx)][:max(1, n - 2)]
        native += [(s.name, dict(p)) for s in sets if s.prefer and s not in first
                   for p in s.seeds[:1] if s.space.valid(p, ctx)]
        native = native[:max(1, n - 1)]
        late = [(s.name, dict(p)) for s in sets if not s.prefer for p in s.seeds[:1] if s.space.valid(p, ctx)]
        plan = native + self.plan(hw, max(1, n - len(native) - len(late))) + late
        if hw.threads > 1:
            plan = [(s, {**p, "T": hw.threads}) for s, p in plan]
        return plan[:n]

    def propose(self, task: Task, hardware: HardwareFactors, history: list[Feedback]) -> Candidate | None:
        if hardware.primitive_set == "cuda":
            return self._propose_cuda(task, hardware, history)
        if task.op != "gemm":
            return self._propose_op(task, hardware, history)
        if self._queue is None:
            self._queue = self.plan(hardware, self.points, task.dtype)
        tried = {f.params.get("_key") for f in history}
        while self._queue:
            ps, p = self._queue.pop(0)
            k = ps + key(p)
            if k in tried:
                continue
            label = f"expert-{ps}-" + "-".join(f"{n}{p[n]}" for n in ("MR", "NR", "NV", "LMUL", "KC", "MC") if n in p
                                                 and (n != "MC" or ps == "amx"))
            return Candidate(source=render(ps, p, dtype=task.dtype), params={**p, "primitive_set": ps, "_key": k},
                             label=label)
        return None

    def _propose_cuda(self, task: Task, hardware: HardwareFactors, history: list[Feedback]) -> Candidate | None:
        """CUDA devices: the kernels of kernels/cuda/ for the op, dtype and SM (harness/generate/cuda.py)."""
        if self._queue is None:
            from harness.generate.cuda import plan
            self._queue = plan(task.op, task.dtype, hardware.arch, self.points)
        tried = {f.params.get("_key") for f in history}
        while self._queue:
            label, source, p = self._queue.pop(0)
            if label in tried:
                continue
            return Candidate(source=source, params={**p, "primitive_set": "cuda", "_key": label},
                             label=f"expert-{label}")
        return None

    def _propose_op(self, task: Task, hardware: HardwareFactors, history: list[Feedback]) -> Candidate | None:
        """Other operators: their template module's plan (harness/generate/<op>_templates.py)."""
        if self._queue is None:
            if task.op != "conv2d":
                return None
            from harness.generate.templates.conv import plan
            self._queue = plan(hardware, self.points)
        tried = {f.params.get("_key") for f in history}
        while self._queue:
            label, source, p = self._queue.pop(0)
            if label in tried:
                continue
            return Candidate(source=source, params={**p, "_key": label}, label=f"expert-{label}")
        return None
