"""Random search: the start point, then valid points drawn uniformly (seeded rejection
sampling; never a point twice). Named random_search so it does not shadow `random`."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

from harness.tune.base import Evaluate, Evaluation, Options, Run, SearchResult, drive
from harness.core.space import ParamSpace, point_key

NAME = "random"


@dataclass
class RandomOptions(Options):
    max_tries: int = 100_000           # consecutive rejected draws before giving up (sparse space)
    max_repeats: int = 2000            # consecutive draws of already-measured points before giving up


def tune(space: ParamSpace, evaluate: Evaluate, options: RandomOptions | None = None,
         history: Iterable[Evaluation] = ()) -> SearchResult:
    opts = options or RandomOptions()
    run = Run(NAME, space, evaluate, opts, history)
    rng = random.Random(opts.seed)

    def body():
        start = run.start_point()
        if start is not None:
            run.evaluate(start)
        repeats = 0
        batch: list = []
        pending: set[str] = set()
        for p in space.sample(opts.context, rng, max_tries=opts.max_tries):
            k = point_key(p)
            if run.seen(p) or k in pending:   # a resumed run replays its prior points for free
                repeats += 1
                if repeats >= opts.max_repeats:
                    run.stopped = "exhausted"
                    return
                continue
            repeats = 0
            batch.append(p)
            pending.add(k)
            if len(batch) >= max(1, opts.batch):
                run.evaluate_many(batch)
                batch, pending = [], set()
        if batch:
            run.evaluate_many(batch)
    return drive(run, body)
