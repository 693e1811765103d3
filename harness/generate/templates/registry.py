"""The expert's template families, and the one place where a family is chosen for a task.

    family                                  module       serves
    rvv, sve, neon, avx512, avx2, scalar    cpu_gemm.py  GEMM f32, and low-precision GEMM widened to f32
    amx                                     amx.py       GEMM bf16 / int8 on Intel AMX tiles
    the native low-precision sets           lowp.py      GEMM int8 / bf16 / f16 with ARM's and RISC-V's own
                                                         dot-product and matrix instructions
    implicit, im2col, direct                conv.py      conv2d f32
    cuda                                    cuda.py      every CUDA op: kernels/cuda/*.cu as #define templates

    expert_plan(hw, op, dtype, n)           the expert generator's first n candidates for the task
    reference(hw, op, dtype)                the family and source an LLM starts from (its sketch)
    render_point(source, family, op, dtype, point)
                                            a generated kernel re-rendered at another point (the
                                            tuner); None when the source is no template's kernel
Each family declares its parameter space beside its renderer (a `tensorop-params` block in the
source it emits); `points.candidates` orders a space's points (seeds first, then a cost model).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from harness.generate.templates import amx, conv, cpu_gemm, cuda, lowp
from harness.generate.templates.points import candidates, key


@dataclass(frozen=True)
class Proposal:
    """One expert candidate: `key` identifies it (a candidate already tried is not proposed again)."""
    key: str
    label: str
    source: str
    params: dict


def _gemm_points(hw, n: int, dtype: str, alternatives: int = 1) -> list[tuple[str, dict]]:
    """The first n (family, point) pairs of a CPU GEMM: the primary set's best points, then a seed
    of each alternative set (so e.g. NEON is measured beside SVE). Low-precision GEMM on a device
    with AMX for its dtype: AMX's seeds first, then the widening template; with native
    low-precision instructions: those sets first (`_native_points`)."""
    if amx.available(dtype, hw.features) and hw.arch in ("x86_64", "amd64"):
        pts = [("amx", dict(p)) for p in amx.SEEDS[:max(1, n - 1)]]
        if hw.threads > 1:
            pts = [(s, {**p, "T": hw.threads}) for s, p in pts]
        return (pts + _gemm_points(hw, 1, "f32", alternatives))[:n]
    native = lowp.available(dtype, hw.arch, hw.features) if dtype != "f32" else []
    if native:
        return _native_points(hw, n, native, alternatives)
    ctx = hw.context()
    ps = cpu_gemm.SETS[hw.primitive_set]
    # a seed that streams B's block from the L2 (ORDER 1) has its NC sized to this L2 first, so it
    # is not dropped as invalid where the L2 is smaller than the one it was written for
    seeds = [cpu_gemm.fit_blocks(ps, s, ctx) if s.get("ORDER") else s for s in ps.seeds]
    primary = [(ps.name, p) for p in islice(candidates(ps.space, seeds, ps.cost, ctx), n)]
    if primary:     # the best-known point, its blocks sized to this device's caches (cpu_gemm.fit_blocks)
        primary[0] = (ps.name, cpu_gemm.fit_blocks(ps, primary[0][1], ctx))
    if hw.threads > 1:  # the task's thread count (not a tuned parameter)
        primary = [(name, {**p, "T": hw.threads}) for name, p in primary]
    extra = []
    for alt in hw.alternatives:
        if alt == "scalar":
            continue
        a = cpu_gemm.SETS[alt]
        extra += [(alt, p) for p in islice(candidates(a.space, list(a.seeds), a.cost, ctx), alternatives)]
    if n <= 2 or not extra:
        return primary[:n]
    keep = max(2, n - len(extra))
    return (primary[:keep] + extra)[:n]


def _native_points(hw, n: int, names: list[str], alternatives: int) -> list[tuple[str, dict]]:
    """Low-precision GEMM with native sets: the first preferred set's seeds, a seed of each other
    native set, and the widening template's best point (before a set that is not preferred, such as
    in-register FCVTL widening, which models slower than widening once while packing)."""
    ctx = hw.context()
    sets = [lowp.SETS[s] for s in names]
    first = [s for s in sets if s.prefer][:1]
    native = [(s.name, dict(p)) for s in first for p in s.seeds if s.space.valid(p, ctx)][:max(1, n - 2)]
    native += [(s.name, dict(p)) for s in sets if s.prefer and s not in first
               for p in s.seeds[:1] if s.space.valid(p, ctx)]
    native = native[:max(1, n - 1)]
    late = [(s.name, dict(p)) for s in sets if not s.prefer for p in s.seeds[:1] if s.space.valid(p, ctx)]
    plan = native + _gemm_points(hw, max(1, n - len(native) - len(late)), "f32", alternatives) + late
    if hw.threads > 1:
        plan = [(s, {**p, "T": hw.threads}) for s, p in plan]
    return plan[:n]


def gemm_points(hw, n: int, dtype: str = "f32", alternatives: int = 1) -> list[tuple[str, dict]]:
    """The CPU GEMM plan as (family, point) pairs (the bench suite's untuned kernel is the first)."""
    return _gemm_points(hw, n, dtype, alternatives)


def render(family: str, point: dict, dtype: str = "f32") -> str:
    """A CPU GEMM family at a point: AMX tiles, a native low-precision set (its dtype is the set's),
    or a vector primitive set of cpu_gemm.py (f32, or low precision widened to f32)."""
    if family == "amx":
        return amx.render(dtype, point)
    if family in lowp.SETS:
        if lowp.SETS[family].dtype != dtype:
            raise ValueError(f"primitive set {family!r} computes GEMM {lowp.SETS[family].dtype}, not {dtype}")
        return lowp.render(family, point)
    return cpu_gemm.render(family, point, dtype=dtype)


def expert_plan(hw, op: str, dtype: str, n: int, alternatives: int = 1) -> list[Proposal]:
    """The expert generator's first n candidates for (op, dtype) on a device with factors `hw`."""
    if hw.primitive_set == "cuda":
        return [Proposal(label, f"expert-{label}", source, {**p, "primitive_set": "cuda"})
                for label, source, p in cuda.plan(op, dtype, hw.arch, n)]
    if op == "conv2d":
        return [Proposal(label, f"expert-{label}", source, dict(p)) for label, source, p in conv.plan(hw, n)]
    if op != "gemm":
        return []
    out = []
    for ps, p in _gemm_points(hw, n, dtype, alternatives):
        label = f"expert-{ps}-" + "-".join(f"{k}{p[k]}" for k in ("MR", "NR", "NV", "LMUL", "KC", "MC")
                                           if k in p and (k != "MC" or ps == "amx" or ps in lowp.SETS))
        out.append(Proposal(ps + key(p), label, render(ps, p, dtype), {**p, "primitive_set": ps}))
    return out


def reference(hw, op: str, dtype: str) -> tuple[str, str]:
    """(family, source) of the sketch an LLM gets to improve on: the family the expert would try
    first for the task (for conv2d both sketches, as text)."""
    if hw.primitive_set == "cuda":
        cands = cuda.plan(op, dtype, hw.arch, 1)
        return "cuda", (cands[0][1] if cands else "")
    if op == "conv2d":
        return hw.primitive_set, conv.sketches(hw)
    native = [s for s in lowp.available(dtype, hw.arch, hw.features) if lowp.SETS[s].prefer] if dtype != "f32" else []
    if amx.available(dtype, hw.features) and hw.arch in ("x86_64", "amd64"):
        return "amx", render("amx", dict(amx.SEEDS[0]), dtype)
    if native:
        return native[0], render(native[0], dict(lowp.SETS[native[0]].seeds[0]), dtype)
    ps = cpu_gemm.SETS[hw.primitive_set]      # compact: without the edge micro-kernels (a third of the text)
    first = cpu_gemm.fit_blocks(ps, dict(ps.seeds[0]), hw.context())
    return ps.name, cpu_gemm.render(ps.name, first, dtype=dtype, edges=False)


def render_point(source: str, family: str | None, op: str, dtype: str, point: dict) -> str | None:
    """The template kernel `source` (of `family`, as its folder's params.json names it) re-rendered
    at `point`; None when it is not a template's kernel (the caller then rewrites its #define lines)."""
    if op == "conv2d":
        return conv.rerender(source, family, dict(point))
    if family and (family in cpu_gemm.SETS or family == "amx" or family in lowp.SETS):
        return render(family, dict(point), dtype)
    return None
