"""Exhaustive search: every valid point in domain order (the start point first). Refuses a
space whose valid points exceed `max_points`, with the size in the message."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from harness.tune.base import Evaluate, Evaluation, Options, Run, SearchResult, drive
from harness.core.space import ParamSpace

NAME = "exhaustive"


class TooLarge(ValueError):
    pass


@dataclass
class ExhaustiveOptions(Options):
    budget: int | None = None          # None: the whole space
    max_points: int = 5000             # refuse larger spaces (count the valid points first)


def tune(space: ParamSpace, evaluate: Evaluate, options: ExhaustiveOptions | None = None,
         history: Iterable[Evaluation] = ()) -> SearchResult:
    opts = options or ExhaustiveOptions()
    size = space.size(opts.context, exact_limit=max(200_000, opts.max_points))
    if size.valid > getattr(opts, "max_points", 5000):
        raise TooLarge(f"exhaustive search refuses {size.describe()}: more than max_points="
                       f"{getattr(opts, 'max_points', 5000):,}; pin parameters (--fix) or use random, mcts or bayes")
    run = Run(NAME, space, evaluate, opts, history)
    run.notes.append(f"space: {size.describe()}")

    def body():
        start = run.start_point()
        if start is not None:
            run.evaluate(start)
        batch: list = []
        for p in space.points(opts.context):
            if run.seen(p):
                continue
            batch.append(p)
            if len(batch) >= max(1, opts.batch):
                run.evaluate_many(batch)
                batch = []
        if batch:
            run.evaluate_many(batch)
    return drive(run, body)
