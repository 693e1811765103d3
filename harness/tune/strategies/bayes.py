"""Model-based search: Optuna's TPE sampler (Tree-structured Parzen Estimator).

Why Optuna's TPE: it is maintained, models categorical domains natively (our domains are
short lists such as MR in [4, 6, 8, ...]), is cheap per suggestion, and takes constraints
through `constraints_func`: a point that violates the space's constraints, or that failed
(compile error, wrong answer, crash, ...), is told to the study as infeasible, so the model
learns to stay away from it. scikit-optimize's Gaussian process is unmaintained and handles
constraints only by rejection.

Invalid suggestions cost no budget (they are never measured); after `max_invalid` of them in
a row the next point is a random valid one, enqueued so the model still learns from it. A
resumed run adds the prior evaluations to the study before the first suggestion.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Iterable

from harness.tune.base import Evaluate, Evaluation, Options, Point, Run, SearchResult, drive
from harness.core.space import ParamSpace

NAME = "bayes"


@dataclass
class BayesOptions(Options):
    n_startup: int = 10                # random (TPE-independent) trials first
    multivariate: bool = True          # model the parameters jointly
    max_invalid: int = 50              # invalid/duplicate suggestions in a row before a random point


def tune(space: ParamSpace, evaluate: Evaluate, options: BayesOptions | None = None,
         history: Iterable[Evaluation] = ()) -> SearchResult:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    opts = options or BayesOptions()
    run = Run(NAME, space, evaluate, opts, history)
    rng = random.Random(opts.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {n: CategoricalDistribution(list(d)) for n, d in space.params.items()}

    def violation(ft) -> tuple[float]:
        return (float(ft.user_attrs.get("violation", 0.0)),)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(seed=opts.seed, n_startup_trials=opts.n_startup,
                                             multivariate=opts.multivariate, constraints_func=violation)
        study = optuna.create_study(direction="minimize", sampler=sampler)

    def worst() -> float:
        c = [e.cost for e in run.history if e.ok]
        return max(c) * 2 if c else 1.0

    def tell(ft, e: Evaluation | None) -> None:
        if e is not None and e.ok:
            ft.set_user_attr("violation", 0.0)
            study.tell(ft, e.cost)
        else:
            ft.set_user_attr("violation", 1.0)
            study.tell(ft, worst())

    for e in run.history:            # a resumed run: the model starts from what was measured
        study.add_trial(create_trial(params=dict(e.point), distributions=dists,
                                     value=e.cost if e.ok else worst(),
                                     user_attrs={"violation": 0.0 if e.ok else 1.0},
                                     system_attrs={"constraints": (0.0 if e.ok else 1.0,)}))

    def body():
        start = run.start_point()
        if start is not None and not run.seen(start):
            study.enqueue_trial(dict(start))
        misses, fallbacks = 0, 0
        while True:
            run.check()
            batch = []
            while len(batch) < max(1, opts.batch):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ft = study.ask(dists)
                p = Point({n: ft.params[n] for n in space.params})
                if not space.valid(p, opts.context) or run.seen(p) or any(p == q for _, q in batch):
                    tell(ft, run.seen(p) if space.valid(p, opts.context) else None)
                    misses += 1
                    if misses >= max(5, opts.max_invalid // (1 + fallbacks)):   # the model is stuck
                        q = _random_unseen(space, run, rng, [q for _, q in batch])
                        if q is None:
                            run.stopped = "exhausted"
                            if not batch:
                                return
                            break
                        study.enqueue_trial(dict(q))
                        misses, fallbacks = 0, fallbacks + 1
                    continue
                misses = 0
                batch.append((ft, p))
            evals = run.evaluate_many([p for _, p in batch])
            for (ft, _), e in zip(batch, evals):
                tell(ft, e)
            if run.stopped == "exhausted":
                return
    res = drive(run, body)
    res.notes.append(f"optuna {optuna.__version__} TPESampler, {len(study.trials)} study trials "
                     f"({sum(t.state == TrialState.COMPLETE for t in study.trials)} told)")
    return res


def _random_unseen(space: ParamSpace, run: Run, rng: random.Random, extra: list) -> Point | None:
    misses = 0
    for p in space.sample(run.options.context, rng, max_tries=20_000):
        p = Point(p)
        if not run.seen(p) and p not in extra:
            return p
        misses += 1
        if misses % 1000 == 0 and run.measured + len(extra) >= space.size(run.options.context).valid:
            return None
    return None
