"""A tuning run of one generated kernel folder on its device: the library behind `tensorop tune`
and generate's tuning stage (harness/tune/pipeline.py).

    run = TuneRun.prepare(lab, folder, fixed={"MC": 168})      # raises TuneError with the reason
    outcome = run.search(store, "mcts", budget=60, seed=0, resume=False)
    rows, plot, measured = run.compare(store, ["mcts", "random"], budget=60, seeds=5)

Each point is rendered and measured through the campaign (tune/evaluate.py KernelEvaluator); the
objective is harness.measure.compare.cost (median time on real devices, modelled cycles on emulated
ones). A resumed run rebuilds its history from the results database (nothing is measured twice)
and that history counts towards the budget. The folder is rewritten only when the search's
incumbent (accept-gated: a significant win on real devices) is not the folder's own point, after a
fresh comparison with the device's baseline.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from harness.config.lab import Lab
from harness.core.space import ParamSpace
from harness.generate.folder import FolderError, KernelFolder, write_tuned
from harness.tune import get, make_options, names
from harness.tune.base import Evaluation, SearchResult
from harness.tune.evaluate import KernelEvaluator, accept_for, prior_history, state_file
from harness.tune.report import best_known, comparison, convergence_plot
from harness.tune.strategies.exhaustive import TooLarge

SEARCH_OVERRIDES = {"max_time_s": 0.3, "min_samples": 3, "max_samples": 10}
SEARCH_OVERRIDES_EMULATED = {"max_time_s": 1.0, "min_samples": 3, "max_samples": 5, "warmup": 1}


class TuneError(ValueError):
    """A tuning run that cannot start (bad folder, unknown device or strategy, bad --fix)."""


@dataclass
class Outcome:
    result: SearchResult
    strategy: str
    seed: int
    campaign: str
    start_eval: Evaluation | None
    written: bool
    summary: dict = field(default_factory=dict)


@dataclass
class TuneRun:
    lab: Lab
    target: KernelFolder
    space: ParamSpace
    ctx: dict
    start: dict
    overrides: dict
    pair_budget_s: float | None = None

    @property
    def device(self):
        return self.lab.devices[self.target.device]

    @property
    def metric(self) -> str:
        return "modelled_cycles" if self.device.emulated else "time"

    @classmethod
    def prepare(cls, lab: Lab, folder: Path, *, fixed: dict | None = None, max_time: float | None = None,
                pair_budget_s: float | None = None) -> "TuneRun":
        try:
            target = KernelFolder.load(folder)
        except FolderError as e:
            raise TuneError(str(e)) from None
        if target.device not in lab.devices:
            raise TuneError(f"{folder}: device {target.device!r} is not in devices.yaml")
        ctx = target.context()
        space = target.space.with_hardware(ctx)
        if fixed:
            try:
                space = space.fixed(fixed)
            except Exception as e:
                raise TuneError(str(e)) from None
        start = {**space.defaults, **target.values, **(fixed or {})}   # defaults: fixed task parameters (T)
        device = lab.devices[target.device]
        overrides = dict(SEARCH_OVERRIDES_EMULATED if device.emulated else SEARCH_OVERRIDES)
        if max_time is not None:
            overrides["max_time_s"] = max_time
        return cls(lab, target, space, ctx, start, overrides, pair_budget_s)

    def describe(self) -> str:
        return self.space.size(self.ctx).describe()

    def start_problem(self) -> str:
        """'' when the folder's own point is valid in the space, else the violated constraints."""
        return "" if self.space.valid(self.start, self.ctx) else str(self.space.violations(self.start, self.ctx))

    @staticmethod
    def check_strategies(strategies: list[str]) -> None:
        for s in strategies:
            if s not in names():
                raise TuneError(f"unknown strategy {s!r}; known: {', '.join(names())}")

    def search(self, store, strategy: str, *, budget: int | None = None, time_s: float | None = None, seed: int = 0,
               resume: bool = False, batch: int = 1, proposer=None, write: bool = True,
               on_evaluation: Callable[[Evaluation], None] | None = None,
               on_note: Callable[[str], None] | None = None) -> Outcome:
        """One strategy's search, resumable; the best point written back when it beats the start."""
        self.check_strategies([strategy])
        note = on_note or (lambda s: None)
        sf = state_file(self.lab.ws.results, self.target, strategy, seed)
        campaign, trials, history = None, {}, []
        if resume:
            try:
                campaign = json.loads(sf.read_text())["campaign"]
            except (OSError, ValueError, KeyError):
                note(f"nothing to resume ({sf} not found); starting afresh")
            if campaign:
                history = prior_history(store, campaign, trials)
                note(f"resuming campaign {campaign}: {len(history)} points already measured")
        if not campaign:
            campaign = f"tune-{strategy}-s{seed}-" + time.strftime("%Y%m%d-%H%M%S")
        sf.parent.mkdir(parents=True, exist_ok=True)
        sf.write_text(json.dumps({"campaign": campaign, "folder": str(self.target.folder), "strategy": strategy,
                                  "seed": seed}) + "\n")
        with KernelEvaluator(self.lab, store, self.target, campaign=campaign, overrides=self.overrides,
                             pair_budget_s=self.pair_budget_s) as ev:
            ev.trials.update(trials)
            opts = make_options(strategy, budget=budget if budget is not None else
                                (None if strategy == "exhaustive" else 60),
                                time_s=time_s, seed=seed, start=self.start, context=self.ctx, batch=batch,
                                accept=accept_for(self.device.emulated, ev.trials, ev.paired_better),
                                on_evaluation=on_evaluation, proposer=proposer if strategy == "mcts" else None)
            try:
                result = get(strategy).tune(self.space, ev, opts, history=history)
            except TooLarge as e:
                raise TuneError(str(e)) from None
            best = result.best
            start_eval = next((e for e in result.history if e.point == {**self.start}), None)
            improved = best is not None and (start_eval is None or best.point != start_eval.point)
            written = False
            if write and improved:
                vs = ev.versus_openblas(best.point)
                write_tuned(self.target, result, ev.trials.get(best.trial_id), objective_name=self.metric,
                            campaign=campaign, vs_openblas=vs)
                written = True
        summary = {"summary": True, **result.search_summary(self.metric, campaign), "folder": str(self.target.folder),
                   "written": written, "space": self.describe(), "start": start_eval.to_json() if start_eval else None}
        summary.pop("history", None)
        return Outcome(result, strategy, seed, campaign, start_eval, written, summary)

    def compare(self, store, strategies: list[str], *, budget: int = 60, seeds: int = 5, time_s: float | None = None,
                batch: int = 1, exhaustive_limit: int = 400, proposer_for=None,
                on_evaluation_for: Callable[[str, int], Callable[[Evaluation], None]] | None = None):
        """Several strategies and seeds on one shared evaluator (each point measured once, the same
        noise for every run); exhaustive too when the space is small. (rows, plot path, campaign,
        points measured)."""
        self.check_strategies(strategies)
        campaign = "tune-compare-" + time.strftime("%Y%m%d-%H%M%S")
        results: dict[str, list] = {}
        runs = list(strategies)
        if "exhaustive" not in runs and self.space.size(self.ctx).valid <= exhaustive_limit:
            runs = ["exhaustive"] + runs
        with KernelEvaluator(self.lab, store, self.target, campaign=campaign, overrides=self.overrides) as ev:
            shared = _Shared(ev)
            for s in runs:
                for seed in ([0] if s == "exhaustive" else range(seeds)):
                    opts = make_options(s, budget=None if s == "exhaustive" else budget, time_s=time_s, seed=seed,
                                        start=self.start, context=self.ctx, batch=batch,
                                        accept=accept_for(self.device.emulated, ev.trials),
                                        on_evaluation=on_evaluation_for(s, seed) if on_evaluation_for else None,
                                        proposer=proposer_for(seed) if (s == "mcts" and proposer_for) else None,
                                        max_points=max(exhaustive_limit, 1))
                    results.setdefault(s, []).append(get(s).tune(self.space, shared, opts))
        best = best_known(results)
        rows = comparison(results, best)
        plot = convergence_plot(results, self.lab.ws.results / "tune" / f"compare-{self.target.slug}-{campaign[-15:]}.png",
                                best=best, title=f"{self.target.slug}: {self.metric}",
                                ylabel=f"best {self.metric} so far")
        return rows, plot, campaign, len(shared.memo)


class _Shared:
    """A memo in front of the real evaluator for compare(): each point is measured once and its
    result is shared by every strategy and seed (the same noise for all of them)."""

    def __init__(self, ev):
        self.ev, self.memo = ev, {}

    def __call__(self, p):
        return self.evaluate_many([p])[0]

    def evaluate_many(self, points):
        todo = [p for p in points if p.key not in self.memo]
        if todo:
            for p, e in zip(todo, self.ev.evaluate_many(todo)):
                self.memo[p.key] = e
        return [replace(self.memo[p.key]) for p in points]


def tune_folder(lab: Lab, store, folder: Path, *, budget: int, strategy: str = "mcts", seed: int = 0,
                pair_budget_s: float | None = None, on_note: Callable[[str], None] | None = None,
                on_evaluation: Callable[[Evaluation], None] | None = None) -> Outcome:
    """Tuning as generate's last stage: `strategy` with `budget` trials on the folder just written."""
    run = TuneRun.prepare(lab, folder, pair_budget_s=pair_budget_s)
    return run.search(store, strategy, budget=budget, seed=seed, on_note=on_note, on_evaluation=on_evaluation)
