"""A simple search over a declared parameter space: the expert's seed points first, then the
valid points ranked by a cost model, without repeats. (MCTS lives in a later module.)"""
from __future__ import annotations

import json
from typing import Callable, Iterator

from harness.core.space import ParamSpace


def key(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


def candidates(space: ParamSpace, seeds: list[dict], cost: Callable[[dict], float],
               context: dict | None = None) -> Iterator[dict]:
    """Valid seeds in order, then every other valid point cheapest-first (lazy)."""
    seen: set[str] = set()
    for s in seeds:
        if space.valid(s, context) and key(s) not in seen:
            seen.add(key(s))
            yield s
    for p in sorted(space.points(context), key=cost):
        if key(p) not in seen:
            seen.add(key(p))
            yield p
