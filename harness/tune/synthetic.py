"""A synthetic objective with a known optimum, for tests and for comparing strategies
without a compiler: a separable quadratic over the domain indices of a constrained GEMM-like
space (~300 valid points), with multiplicative noise and a few failing points."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from harness.tune.base import Evaluation, Point
from harness.core.space import ParamSpace, point_key


def space() -> ParamSpace:
    return ParamSpace(
        {"MR": [2, 4, 6, 8, 12, 16], "NV": [1, 2, 3, 4], "KC": [64, 128, 192, 256, 384, 512],
         "U": [1, 2, 4, 8]},
        ["MR * NV <= vregs - NV - 1", "KC * NV * lanes * 4 <= l1d"],
        {"MR": 4, "NV": 1, "KC": 128, "U": 1})


CONTEXT = {"vregs": 32, "lanes": 16, "l1d": 32768}
OPTIMUM_INDEX = {"MR": 4, "NV": 1, "KC": 3, "U": 2}       # MR 12, NV 2, KC 256, U 4
WEIGHTS = {"MR": 3.0, "NV": 2.0, "KC": 1.5, "U": 0.5}


def _h(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


@dataclass
class Synthetic:
    """evaluate(point) -> Evaluation; counts calls per point (to check nothing is measured twice)."""

    sp: ParamSpace = field(default_factory=space)
    noise: float = 0.02                # relative, Gaussian
    fail_rate: float = 0.06            # fraction of points that fail (deterministic per point)
    seed: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def true_cost(self, p: dict) -> float:
        c = 1.0
        for n, w in WEIGHTS.items():
            dom = self.sp.params[n]
            d = (dom.index(p[n]) - OPTIMUM_INDEX[n]) / (len(dom) - 1)
            c += w * d * d
        return c

    def fails(self, p: dict) -> str:
        if all(self.sp.params[n].index(p[n]) == OPTIMUM_INDEX[n] for n in OPTIMUM_INDEX):
            return ""
        h = _h(point_key(p))
        if h < self.fail_rate * 0.7:
            return "compile_error"
        if h < self.fail_rate:
            return "wrong_answer"
        return ""

    def __call__(self, p: dict) -> Evaluation:
        k = point_key(p)
        self.calls[k] = self.calls.get(k, 0) + 1
        status = self.fails(p)
        if status:
            return Evaluation(Point(p), None, status, f"synthetic {status} at {k}")
        return Evaluation(Point(p), self.true_cost(p) * (1 + self.rng.gauss(0, self.noise)))

    def evaluate_many(self, points):
        return [self(p) for p in points]

    def optimum(self) -> tuple[dict, float]:
        pts = [p for p in self.sp.points(CONTEXT) if not self.fails(p)]
        best = min(pts, key=self.true_cost)
        return best, self.true_cost(best)
