"""The `cuda` primitive set's expert templates: the kernels in kernels/cuda/, whose tile sizes are
`#define` lines declared by a `tensorop-params` block, so the expert generator proposes points of
them and the tuner (harness/tune/evaluate.py, Target.render's #define rewrite) searches them.

  gemm f32     simt_f32.cu                   FFMA register tiles: BM, BN, BK, TM, TN
  gemm f16     wgmma_f16.cu (sm_90a)         wgmma + TMA, warp-specialised: BN, STAGES, BMN (B read as is or
                                             transposed first), GROUP_M (tile order)
               mma_sync_f16.cu               mma.sync m16n8k16 + ldmatrix: WM x WN warps of MI x NJ tiles, BK
               wmma_f16.cu                   WMMA 16x16x16 (fixed tiles)
  conv2d f32   conv2d_implicit_gemm_f32.cu   FFMA implicit GEMM (picks its tile by the SM count)

The suite compiles each template's default and extreme points for sm_80 and sm_90a
(tests/test_cuda_run.py); benchmarks/cuda_template_points.py compiles every valid point.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.core.space import ParamSpace
from harness.core.workspace import PACKAGE_DIR

KERNEL_DIR = PACKAGE_DIR.parent / "kernels" / "cuda"


def source(file: str) -> str:
    return (KERNEL_DIR / file).read_text()


def space(file: str) -> ParamSpace | None:
    return ParamSpace.from_source(source(file))


def render(file: str, point: dict | None = None) -> str:
    """The template at `point` (its #define lines and parameter block rewritten); the file itself
    when it declares no space or no point is given."""
    src = source(file)
    sp = ParamSpace.from_source(src)
    if sp is None or not point:
        return src
    values = {**sp.defaults, **{k: v for k, v in point.items() if k in sp.params}}
    if not sp.valid(values):
        raise ValueError(f"{file}: {values} is not a valid point of its space")
    for n, v in values.items():
        src, k = re.subn(rf"(?m)^(\s*#\s*define\s+{re.escape(n)}\s+)\S+", rf"\g<1>{v}", src)
        if not k:
            raise ValueError(f"{file} has no '#define {n}'")
    return re.sub(r"/\*\s*tensorop-params\s*\{.*?\}\s*\*/", lambda m: sp.block(values), src, count=1, flags=re.S)


def _prior(file: str, p: dict) -> float:
    """Order of the non-default points (lower first): more work per thread and per block, within
    the register and shared-memory limits the space's constraints declare."""
    if file == "mma_sync_f16.cu":
        return -(p["MI"] * p["NJ"] * 4 + p["WM"] * p["WN"] + p["BK"] / 32)
    if file == "wgmma_f16.cu":
        return -(p["BN"] / 32 + p["STAGES"] + p["GROUP_M"] / 16 + p["BMN"])
    if file == "simt_f32.cu":
        return -(p["TM"] * p["TN"] * 4 + p["BM"] * p["BN"] / 1024 + p["BK"] / 16)
    return 0.0


def points(file: str) -> list[dict]:
    """The template's valid points: its default first, then by the prior ([{}]: no space)."""
    sp = space(file)
    if sp is None:
        return [{}]
    default = dict(sp.defaults)
    return [default, *sorted((p for p in sp.points() if p != default), key=lambda p: _prior(file, p))]


def label(file: str, point: dict) -> str:
    return "cuda-" + Path(file).stem + "".join(f"-{k}{v}" for k, v in point.items())


# ---- the expert's CUDA candidates per (op, dtype, SM) ------------------------------------------
# (op, dtype) -> [(file in kernels/cuda, the SMs it runs on: "sm_90a" exactly, or ">=80")], best first.
# wgmma is sm_90a's alone (Blackwell's tensor cores are programmed another way).
EXPERT = {
    ("gemm", "f16"): [("wgmma_f16.cu", "sm_90a"), ("mma_sync_f16.cu", ">=80"), ("wmma_f16.cu", ">=70")],
    ("gemm", "f32"): [("simt_f32.cu", ">=50")],
    ("conv2d", "f32"): [("conv2d_implicit_gemm_f32.cu", ">=70")],
}


def runs_on(spec: str, sm: str) -> bool:
    """Whether a kernel whose SM spec is `spec` ("sm_90a" or ">=80") runs on `sm`."""
    if spec.startswith(">="):
        return sm_number(sm) >= int(spec[2:])
    return sm == spec


def expert_files(op: str, dtype: str, sm: str) -> list[str]:
    """The expert's kernel files for (op, dtype) that run on `sm`, best first."""
    return [f for f, spec in EXPERT.get((op, dtype), []) if runs_on(spec, sm)]


def sm_number(sm: str) -> int:
    digits = "".join(ch for ch in sm if ch.isdigit())
    return int(digits) if digits else 0


def plan(op: str, dtype: str, sm: str, n: int) -> list[tuple[str, str, dict]]:
    """The expert's candidates for the SM: (label, source, params), each template's default point
    first (every template the SM runs is tried), then the templates' other points by their prior
    (harness/generate/templates/cuda.py). params carries the point, so the tuner starts from it."""
    files = expert_files(op, dtype, sm)
    firsts, rests = [], []
    for f in files:
        pts = points(f)
        firsts.append((f, pts[0]))
        rests += [(f, p) for p in pts[1:]]
    return [(label(f, p), render(f, p), {**p, "kernel_file": f})
            for f, p in (firsts + rests)[:n]]


