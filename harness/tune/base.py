"""The records and the shared machinery of every search strategy.

    evaluate(point) -> Evaluation          lower cost is better; a failure is an Evaluation
                                           with cost None and a status, never an exception
    evaluate_many(points) -> [Evaluation]  optional: the runner compiles the batch ahead in
                                           parallel and measures it in order

A strategy module exposes `tune(space, evaluate, options, history=()) -> SearchResult` with
its options dataclass (a subclass of `Options`) declared beside it. It never calls `evaluate`
itself: it goes through a `Run`, which
  - answers a point already measured (in this run or in the prior `history` of a killed run)
    from its cache without measuring it again, so a seeded strategy that is resumed replays
    its decisions for free and rebuilds its state exactly;
  - counts the budget (distinct measured points, prior ones included) and the wall time;
  - keeps the incumbent, which changes only when `options.accept(new, incumbent)` says so
    (plain `<` by default; a significance test on real devices, see tune.evaluate);
  - turns an exception raised by `evaluate` into an Evaluation with status "internal_error".
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

from harness.core.space import ParamSpace, point_key


class Point(dict):
    """A parameter point: a dict of name -> value with a canonical `key` (hashable)."""

    @property
    def key(self) -> str:
        return point_key(self)

    def __hash__(self) -> int:   # type: ignore[override]
        return hash(self.key)

    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.items())

    @classmethod
    def parse_label(cls, text: str) -> "Point":
        out = cls()
        for part in text.split(","):
            k, _, v = part.partition("=")
            try:
                out[k] = json.loads(v)
            except json.JSONDecodeError:
                out[k] = v
        return out


@dataclass
class Evaluation:
    point: Point
    cost: float | None                # lower is better; None when there is no trusted figure
    status: str = "ok"                # ok, compile_error, wrong_answer, crash, timeout, rejected, ...
    error: str = ""
    trial_id: int | None = None
    trial: int = 0                    # 1-based index in the search history
    wall_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.point, Point):
            self.point = Point(self.point)
        if self.cost is not None and (not isinstance(self.cost, (int, float)) or not math.isfinite(self.cost)):
            self.cost, self.status = None, self.status if self.status != "ok" else "no_cost"

    @property
    def ok(self) -> bool:
        return self.cost is not None

    def to_json(self) -> dict:
        return {"trial": self.trial, "point": dict(self.point), "cost": self.cost, "status": self.status,
                "error": self.error or None, "trial_id": self.trial_id, "wall_s": round(self.wall_s, 4),
                **({"meta": self.meta} if self.meta else {})}

    @classmethod
    def from_json(cls, d: dict) -> "Evaluation":
        return cls(Point(d["point"]), d.get("cost"), d.get("status", "ok"), d.get("error") or "",
                   d.get("trial_id"), d.get("trial", 0), d.get("wall_s", 0.0), d.get("meta") or {})


@dataclass
class SearchResult:
    strategy: str
    seed: int | None
    history: list[Evaluation]         # every measured point, prior ones first, in order
    best: Evaluation | None           # the incumbent (accept-gated)
    wall_s: float
    stopped: str = ""                 # why the search ended: budget, time, exhausted, ...
    prior: int = 0                    # how many of `history` came from a resumed run
    notes: list[str] = field(default_factory=list)

    def best_so_far(self) -> list[float | None]:
        """Lowest measured cost after each trial (None before the first success)."""
        out, b = [], None
        for e in self.history:
            if e.ok and (b is None or e.cost < b):
                b = e.cost
            out.append(b)
        return out

    def summary(self) -> dict:
        by_status: dict[str, int] = {}
        for e in self.history:
            by_status[e.status] = by_status.get(e.status, 0) + 1
        return {"strategy": self.strategy, "seed": self.seed, "trials": len(self.history), "prior": self.prior,
                "best": self.best.to_json() if self.best else None, "wall_s": round(self.wall_s, 3),
                "stopped": self.stopped, "statuses": by_status, "notes": self.notes}

    def search_summary(self, objective_name: str, campaign: str) -> dict:
        """The summary meta.json keeps of a search (harness/generate/folder.py write_tuned)."""
        s = self.summary()
        bsf = self.best_so_far()
        return {**s, "objective": objective_name, "campaign": campaign,
                "best_so_far": bsf[-50:] if len(bsf) > 50 else bsf,
                "history": [{"trial": e.trial, "point": dict(e.point), "cost": e.cost, "status": e.status,
                             "trial_id": e.trial_id} for e in self.history][-200:]}


Evaluate = Callable[[Point], Evaluation]


class BatchEvaluator(Protocol):
    def __call__(self, point: Point) -> Evaluation: ...
    def evaluate_many(self, points: Sequence[Point]) -> list[Evaluation]: ...


def plain_less(new: Evaluation, incumbent: Evaluation) -> bool:
    """The incumbent rule for deterministic objectives (modelled cycles): strictly lower cost."""
    return new.cost is not None and (incumbent.cost is None or new.cost < incumbent.cost)


@dataclass
class Options:
    """Options every strategy takes (a strategy's own options dataclass extends this)."""

    budget: int | None = 100          # distinct measured points in all (prior history included)
    time_s: float | None = None       # wall-time budget of this run, seconds
    seed: int = 0
    start: dict | None = None         # first point (the expert's default); None: space.defaults
    context: dict | None = None       # hardware context of the constraints (vregs, lanes, l1d, l2)
    accept: Callable[[Evaluation, Evaluation], bool] | None = None   # incumbent rule; None: plain_less
    batch: int = 1                    # points handed to evaluate_many at once (compile ahead)
    on_evaluation: Callable[[Evaluation], None] | None = None        # called for each new measurement


class Stop(Exception):
    """Raised inside a Run when the budget or the time is spent (caught by Run.result)."""


class Run:
    """One search: cache, budget, clock, history and incumbent (see the module doc)."""

    def __init__(self, strategy: str, space: ParamSpace, evaluate: Evaluate, options: Options,
                 history: Iterable[Evaluation] = ()):
        self.strategy, self.space, self.options = strategy, space, options
        self._evaluate = evaluate
        self._many = getattr(evaluate, "evaluate_many", None)
        self.accept = options.accept or plain_less
        self.t0 = time.monotonic()
        self.history: list[Evaluation] = []
        self.cache: dict[str, Evaluation] = {}
        self.best: Evaluation | None = None
        self.stopped = ""
        self.notes: list[str] = []
        self.duplicates = 0            # cache hits (free replays)
        for e in history:
            e = e if isinstance(e, Evaluation) else Evaluation.from_json(e)
            if e.point.key in self.cache:
                continue
            self._record(e, new=False)
        self.prior = len(self.history)

    # -- budget ----------------------------------------------------------------------------
    @property
    def measured(self) -> int:
        return len(self.history)

    def remaining(self) -> int | None:
        b = self.options.budget
        return None if b is None else max(0, b - self.measured)

    def spent(self) -> str:
        """"" while the search may go on, else why not."""
        if self.options.budget is not None and self.measured >= self.options.budget:
            return "budget"
        if self.options.time_s is not None and time.monotonic() - self.t0 >= self.options.time_s:
            return "time"
        return ""

    def check(self) -> None:
        why = self.spent()
        if why:
            self.stopped = self.stopped or why
            raise Stop(why)

    # -- evaluation --------------------------------------------------------------------------
    def seen(self, point: dict) -> Evaluation | None:
        return self.cache.get(point_key(point))

    def evaluate(self, point: dict) -> Evaluation:
        return self.evaluate_many([point])[0]

    def evaluate_many(self, points: Sequence[dict]) -> list[Evaluation]:
        """Measure the points not yet measured (up to the remaining budget; Stop if none can be),
        answer the others from the cache; results in input order."""
        pts = [p if isinstance(p, Point) else Point(p) for p in points]
        todo: list[Point] = []
        for p in pts:
            if p.key not in self.cache and p.key not in {q.key for q in todo}:
                todo.append(p)
        self.duplicates += len(pts) - len(todo)
        if todo:
            self.check()
            r = self.remaining()
            if r is not None:
                todo = todo[:r]
            for e in self._measure(todo):
                self._record(e, new=True)
        out = []
        for p in pts:
            e = self.cache.get(p.key)
            if e is None:           # cut by the budget
                self.check()
                raise Stop("budget")
            out.append(e)
        return out

    def _measure(self, points: list[Point]) -> list[Evaluation]:
        t0 = time.monotonic()
        try:
            if len(points) > 1 and self._many is not None:
                res = list(self._many(points))
            else:
                res = [self._evaluate(p) for p in points]
        except Exception as e:      # a bug in an evaluator must not kill the search
            res = [Evaluation(p, None, "internal_error", f"{type(e).__name__}: {e}") for p in points]
        if len(res) != len(points):
            res = (res + [Evaluation(p, None, "internal_error", "evaluator returned too few results")
                          for p in points])[:len(points)]
        dt = (time.monotonic() - t0) / max(1, len(points))
        out = []
        for p, e in zip(points, res):
            if not isinstance(e, Evaluation):
                e = Evaluation(p, e if isinstance(e, (int, float)) else None,
                               "ok" if isinstance(e, (int, float)) else "internal_error")
            e.point = Point(p)
            e.wall_s = e.wall_s or dt
            out.append(e)
        return out

    def _record(self, e: Evaluation, new: bool) -> None:
        e.trial = len(self.history) + 1
        self.history.append(e)
        self.cache[e.point.key] = e
        if e.ok:
            if self.best is None:
                self.best = e
            else:
                try:
                    take = self.accept(e, self.best)
                except Exception as err:   # a failing comparison keeps the incumbent
                    take = False
                    self.notes.append(f"accept hook failed on trial {e.trial}: {err}")
                if take:
                    self.best = e
        if new and self.options.on_evaluation is not None:
            self.options.on_evaluation(e)

    # -- helpers for strategies ---------------------------------------------------------------
    def start_point(self) -> Point | None:
        p = self.options.start if self.options.start is not None else self.space.defaults
        p = {**self.space.defaults, **(p or {})}
        return Point(p) if p and self.space.valid(p, self.options.context) else None

    def best_cost(self) -> float | None:
        c = [e.cost for e in self.history if e.ok]
        return min(c) if c else None

    def result(self, seed: int | None = None) -> SearchResult:
        return SearchResult(self.strategy, self.options.seed if seed is None else seed, list(self.history),
                            self.best, time.monotonic() - self.t0, self.stopped or "done", self.prior,
                            list(self.notes))


def drive(run: Run, body: Callable[[], None]) -> SearchResult:
    """Run a strategy's loop until it returns or the budget/time is spent."""
    try:
        body()
        if not run.stopped:
            run.stopped = run.spent() or "exhausted"
    except Stop as s:
        run.stopped = run.stopped or str(s)
    return run.result()
