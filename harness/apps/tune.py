"""`tensorop tune DIR`: search a generated kernel's parameter space on its device.

    tensorop tune generated/host/gemm_256x256x256_f32 --strategy mcts --budget 60 --time 20m
    tensorop tune DIR --strategy random --budget 40 --seed 3 --resume      # continue a killed run
    tensorop tune DIR --compare mcts,random,bayes --budget 60 --seeds 5    # table + convergence plot

Each point is rendered and measured through the campaign runner; the objective is
harness.measure.compare.cost (median time on real devices, modelled cycles on emulated ones). The
folder is rewritten only when the search's incumbent (accept-gated: a significant win on real
devices) is not the folder's own point. `--json`: one object per trial, then a summary object.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

SEARCH_OVERRIDES = {"max_time_s": 0.3, "min_samples": 3, "max_samples": 10}
SEARCH_OVERRIDES_EMULATED = {"max_time_s": 1.0, "min_samples": 3, "max_samples": 5, "warmup": 1}


def parse_duration(text: Optional[str]) -> Optional[float]:
    """'20m', '90s', '1h', '1h30m', '300' (seconds) -> seconds."""
    if text is None:
        return None
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", t)
    if not parts or "".join(a + b for a, b in parts) != re.sub(r"\s+", "", t):
        raise typer.BadParameter(f"cannot read duration {text!r}; use e.g. 20m, 90s, 1h30m")
    return sum(float(a) * {"h": 3600, "m": 60, "s": 1}[u] for a, u in parts)


def _fixed(items: List[str]) -> dict:
    out_ = {}
    for it in items:
        n, _, v = it.partition("=")
        if not n or not v:
            raise typer.BadParameter(f"--fix {it!r}: use NAME=VALUE")
        try:
            out_[n.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out_[n.strip()] = v.strip()
    return out_


def tune(folder: Path = typer.Argument(..., help="A generated kernel folder (kernel.c, params.json, meta.json)."),
         strategy: str = typer.Option("mcts", "--strategy", help="mcts | random | exhaustive | bayes"),
         budget: Optional[int] = typer.Option(None, "--budget", "-b", help="Trials in all (default 60; "
                                              "exhaustive: the whole space)."),
         time_limit: Optional[str] = typer.Option(None, "--time", help="Wall-time budget, e.g. 20m."),
         seed: int = typer.Option(0, "--seed"),
         resume: bool = typer.Option(False, "--resume", help="Continue the last run of this folder, strategy "
                                     "and seed: its measured points are not measured again."),
         as_json: bool = typer.Option(False, "--json", help="One JSON object per trial, then a summary."),
         compare: Optional[str] = typer.Option(None, "--compare", help="Strategies to compare, e.g. mcts,random,bayes."),
         seeds: int = typer.Option(5, "--seeds", help="Seeds per strategy with --compare."),
         fix: List[str] = typer.Option([], "--fix", help="Pin a parameter, NAME=VALUE (repeatable)."),
         batch: int = typer.Option(1, "--batch", help="Points per campaign (compiled ahead in parallel)."),
         proposer: str = typer.Option("rule", "--proposer", help="MCTS moves: rule | llm."),
         model: Optional[str] = typer.Option(None, "--model"), base_url: Optional[str] = typer.Option(None, "--base-url"),
         max_time: Optional[float] = typer.Option(None, help="Sampling budget per trial, seconds."),
         pair_budget: Optional[float] = typer.Option(None, "--pair-budget", help="Real devices: seconds of "
                                                     "paired timing per incumbent challenge (default 10) and for "
                                                     "the chosen point's re-measure against OpenBLAS (default 30)."),
         exhaustive_limit: int = typer.Option(400, "--exhaustive-limit",
                                              help="--compare runs exhaustive too when the space is this small."),
         write: bool = typer.Option(True, "--write/--no-write", help="Write the best point back to the folder."),
         devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Tune a generated kernel's parameters on its device (MCTS, random, exhaustive, bayes)."""
    from harness.config.yamlfile import ConfigError
    from harness.config.lab import Lab
    from harness.campaign.store import Store
    from harness.tune import get, make_options, names
    from harness.tune.base import Evaluation
    from harness.tune.evaluate import (
        KernelEvaluator,
        Target,
        TargetError,
        accept_for,
        prior_history,
        search_summary,
        state_file,
        write_back,
    )
    from harness.tune.strategies.exhaustive import TooLarge

    try:
        lab = Lab.load(devices_file=devices_file)
        target = Target.load(folder)
    except (ConfigError, TargetError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    if target.device not in lab.devices:
        err.print(f"[red]error:[/red] {folder}: device {target.device!r} is not in devices.yaml", highlight=False)
        raise typer.Exit(2)
    strategies = [s.strip() for s in (compare or strategy).split(",") if s.strip()]
    for s in strategies:
        if s not in names():
            err.print(f"[red]error:[/red] unknown strategy {s!r}; known: {', '.join(names())}")
            raise typer.Exit(2)
    if proposer not in ("rule", "llm"):
        err.print(f"[red]error:[/red] --proposer must be rule or llm")
        raise typer.Exit(2)
    device = lab.devices[target.device]
    ctx = target.context()
    space = target.space.with_hardware(ctx)
    try:
        space = space.fixed(_fixed(fix)) if fix else space
    except Exception as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    start = {**space.defaults, **target.values, **_fixed(fix)}   # defaults: fixed task parameters (T)
    size = space.size(ctx)
    metric = "modelled_cycles" if device.emulated else "time"
    err.print(f"[bold]tune[/bold] {folder} on {target.device} ({metric}): {size.describe()}", highlight=False)
    if not space.valid(start, ctx):
        err.print(f"[yellow]the folder's point violates {space.violations(start, ctx)}; starting elsewhere[/yellow]",
                  highlight=False)
    overrides = dict(SEARCH_OVERRIDES_EMULATED if device.emulated else SEARCH_OVERRIDES)
    if max_time is not None:
        overrides["max_time_s"] = max_time
    time_s = parse_duration(time_limit)

    def make_proposer(seed_: int):
        if proposer == "rule":
            return None
        from harness.generate.llm import LLMClient, LLMConfig, LLMError, SessionStore
        from harness.tune.moves import LLMMoveProposer, RuleMoveProposer
        cfg = LLMConfig.from_env(base_url=base_url, model=model, stream=False)
        session = SessionStore(lab.ws.results / "sessions", meta={"purpose": "tune", "folder": str(folder)})
        try:
            client = LLMClient(cfg, session)
        except LLMError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
        return LLMMoveProposer(client, target.hardware_summary(), RuleMoveProposer(seed=seed_))

    def trial_line(strategy_: str, seed_: int):
        def on_eval(e: Evaluation):
            if as_json:
                print(json.dumps({"strategy": strategy_, "seed": seed_, **e.to_json()}, default=str), flush=True)
            else:
                err.print(f"[dim]{strategy_} s{seed_} #{e.trial} {e.point.label()}: "
                          + (f"{e.cost:.6g}" if e.ok else f"{e.status} {e.error.splitlines()[0][:100] if e.error else ''}")
                          + "[/dim]", highlight=False)
        return on_eval

    with Store(lab.ws.database) as store:
        if compare:
            raise typer.Exit(_compare(lab, store, target, space, ctx, start, strategies, budget or 60, seeds,
                                      time_s, batch, overrides, exhaustive_limit, metric, as_json, make_proposer,
                                      trial_line))
        strat = strategies[0]
        sf = state_file(lab.ws.results, target, strat, seed)
        campaign = None
        trials: dict = {}
        history: list[Evaluation] = []
        if resume:
            try:
                campaign = json.loads(sf.read_text())["campaign"]
            except (OSError, ValueError, KeyError):
                err.print(f"[yellow]nothing to resume ({sf} not found); starting afresh[/yellow]", highlight=False)
            if campaign:
                history = prior_history(store, campaign, trials)
                err.print(f"resuming campaign {campaign}: {len(history)} points already measured", highlight=False)
        if not campaign:
            campaign = f"tune-{strat}-s{seed}-" + time.strftime("%Y%m%d-%H%M%S")
        sf.parent.mkdir(parents=True, exist_ok=True)
        sf.write_text(json.dumps({"campaign": campaign, "folder": str(folder), "strategy": strat, "seed": seed}) + "\n")
        ev = KernelEvaluator(lab, store, target, campaign=campaign, overrides=overrides, pair_budget_s=pair_budget)
        ev.trials.update(trials)
        opts = make_options(strat, budget=budget if budget is not None else (None if strat == "exhaustive" else 60),
                            time_s=time_s, seed=seed, start=start, context=ctx, batch=batch,
                            accept=accept_for(device.emulated, ev.trials, ev.paired_better),
                            on_evaluation=trial_line(strat, seed),
                            proposer=make_proposer(seed) if strat == "mcts" else None)
        try:
            result = get(strat).tune(space, ev, opts, history=history)
        except TooLarge as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2)
        best = result.best
        start_eval = next((e for e in result.history if e.point == {**start}), None)
        improved = best is not None and (start_eval is None or best.point != start_eval.point)
        written = False
        if write and improved:
            vs = ev.versus_openblas(best.point)
            write_back(target, result, ev.trials.get(best.trial_id), objective_name=metric, campaign=campaign,
                       vs_openblas=vs)
            written = True
        summary = {"summary": True, **search_summary(result, metric, campaign), "folder": str(folder),
                   "written": written, "space": size.describe(),
                   "start": start_eval.to_json() if start_eval else None}
        summary.pop("history", None)
        if as_json:
            print(json.dumps(summary, default=str), flush=True)
        else:
            b = f"{best.point.label()} cost {best.cost:.6g}" if best else "no verified point"
            s0 = f"{start_eval.cost:.6g}" if start_eval and start_eval.ok else "n/a"
            out.print(f"{strat} (seed {seed}): {len(result.history)} trials ({result.stopped}); best {b}; "
                      f"start {s0}; {'written to ' + str(folder) if written else 'folder unchanged'}; "
                      f"campaign {campaign}; {result.wall_s:.1f} s", highlight=False)
    raise typer.Exit(0 if best is not None else 1)


class _Shared:
    """A memo in front of the real evaluator for --compare: each point is measured once and its
    result is shared by every strategy and seed (the same noise for all of them)."""

    def __init__(self, ev):
        self.ev, self.memo = ev, {}

    def __call__(self, p):
        return self.evaluate_many([p])[0]

    def evaluate_many(self, points):
        from dataclasses import replace
        todo = [p for p in points if p.key not in self.memo]
        if todo:
            for p, e in zip(todo, self.ev.evaluate_many(todo)):
                self.memo[p.key] = e
        return [replace(self.memo[p.key]) for p in points]


def _compare(lab, store, target, space, ctx, start, strategies, budget, seeds, time_s, batch, overrides,
             exhaustive_limit, metric, as_json, make_proposer, trial_line) -> int:
    from harness.tune import get, make_options
    from harness.tune.evaluate import KernelEvaluator, accept_for
    from harness.tune.report import best_known, comparison, convergence_plot, markdown
    campaign = "tune-compare-" + time.strftime("%Y%m%d-%H%M%S")
    ev = KernelEvaluator(lab, store, target, campaign=campaign, overrides=overrides)
    shared = _Shared(ev)
    emulated = lab.devices[target.device].emulated
    results: dict[str, list] = {}
    runs = list(strategies)
    if "exhaustive" not in runs and space.size(ctx).valid <= exhaustive_limit:
        runs = ["exhaustive"] + runs
    for s in runs:
        for seed in ([0] if s == "exhaustive" else range(seeds)):
            opts = make_options(s, budget=None if s == "exhaustive" else budget, time_s=time_s, seed=seed,
                                start=start, context=ctx, batch=batch, accept=accept_for(emulated, ev.trials),
                                on_evaluation=trial_line(s, seed),
                                proposer=make_proposer(seed) if s == "mcts" else None,
                                max_points=max(exhaustive_limit, 1))
            results.setdefault(s, []).append(get(s).tune(space, shared, opts))
    best = best_known(results)
    rows = comparison(results, best)
    plot = convergence_plot(results, lab.ws.results / "tune" / f"compare-{target.slug}-{campaign[-15:]}.png",
                            best=best, title=f"{target.slug}: {metric}", ylabel=f"best {metric} so far")
    if as_json:
        print(json.dumps({"summary": True, "compare": rows, "plot": str(plot), "objective": metric,
                          "campaign": campaign, "measured_points": len(shared.memo)}, default=str), flush=True)
    else:
        out.print(markdown(rows), highlight=False)
        out.print(f"convergence plot: {plot}\n{len(shared.memo)} points measured (shared by every run); "
                  f"campaign {campaign}", highlight=False)
    return 0


def tune_generated(folder: Path, *, budget: int, devices_file: Optional[Path] = None, strategy: str = "mcts",
                   seed: int = 0, pair_budget_s: Optional[float] = None) -> int:
    """Tuning as `generate`'s last stage: `tensorop tune FOLDER --strategy mcts --budget N` on the
    folder generate just wrote (its output goes to stderr, so generate's own stdout stays clean).
    pair_budget_s: `--pair-budget` (None: the command's defaults). Returns the command's exit status."""
    import contextlib
    with contextlib.redirect_stdout(sys.stderr):
        try:
            tune(folder=folder, strategy=strategy, budget=budget, time_limit=None, seed=seed, resume=False,
                 as_json=False, compare=None, seeds=1, fix=[], batch=1, proposer="rule", model=None, base_url=None,
                 max_time=None, pair_budget=pair_budget_s, exhaustive_limit=0, write=True,
                 devices_file=devices_file)
        except typer.Exit as e:
            return int(e.exit_code or 0)
    return 0
