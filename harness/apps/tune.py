"""`tensorop tune DIR`: search a generated kernel's parameter space on its device.

    tensorop tune generated/host/gemm_256x256x256_f32 --strategy mcts --budget 60 --time 20m
    tensorop tune DIR --strategy random --budget 40 --seed 3 --resume      # continue a killed run
    tensorop tune DIR --compare mcts,random,bayes --budget 60 --seeds 5    # table + convergence plot

The command-line face of harness/tune/session.py (TuneRun: each point measured through the
campaign, the one objective, the folder rewritten only on a significant win). `--json`: one
object per trial, then a summary object.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

import typer

from harness.apps.common import err, load_lab, out
from harness.campaign.store import Store
from harness.generate.llm import LLMClient, LLMConfig, LLMError, SessionStore
from harness.tune.base import Evaluation
from harness.tune.moves import LLMMoveProposer, RuleMoveProposer
from harness.tune.report import markdown
from harness.tune.session import TuneError, TuneRun




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
    lab = load_lab(devices_file)
    strategies = [s.strip() for s in (compare or strategy).split(",") if s.strip()]
    if proposer not in ("rule", "llm"):
        err.print("[red]error:[/red] --proposer must be rule or llm")
        raise typer.Exit(2)
    try:
        run = TuneRun.prepare(lab, folder, fixed=_fixed(fix), max_time=max_time, pair_budget_s=pair_budget)
        run.check_strategies(strategies)
    except TuneError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    err.print(f"[bold]tune[/bold] {folder} on {run.target.device} ({run.metric}): {run.describe()}", highlight=False)
    problem = run.start_problem()
    if problem:
        err.print(f"[yellow]the folder's point violates {problem}; starting elsewhere[/yellow]", highlight=False)
    time_s = parse_duration(time_limit)

    def make_proposer(seed_: int):
        if proposer == "rule":
            return None
        cfg = LLMConfig.from_env(base_url=base_url, model=model, stream=False)
        session = SessionStore(lab.ws.results / "sessions", meta={"purpose": "tune", "folder": str(folder)})
        try:
            client = LLMClient(cfg, session)
        except LLMError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
        return LLMMoveProposer(client, run.target.hardware_summary(), RuleMoveProposer(seed=seed_))

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
            rows, plot, campaign, measured = run.compare(store, strategies, budget=budget or 60, seeds=seeds,
                                                         time_s=time_s, batch=batch, exhaustive_limit=exhaustive_limit,
                                                         proposer_for=make_proposer, on_evaluation_for=trial_line)
            if as_json:
                print(json.dumps({"summary": True, "compare": rows, "plot": str(plot), "objective": run.metric,
                                  "campaign": campaign, "measured_points": measured}, default=str), flush=True)
            else:
                out.print(markdown(rows), highlight=False)
                out.print(f"convergence plot: {plot}\n{measured} points measured (shared by every run); "
                          f"campaign {campaign}", highlight=False)
            raise typer.Exit(0)
        strat = strategies[0]
        try:
            o = run.search(store, strat, budget=budget, time_s=time_s, seed=seed, resume=resume, batch=batch,
                           proposer=make_proposer(seed), write=write, on_evaluation=trial_line(strat, seed),
                           on_note=lambda text: err.print(f"[yellow]{text}[/yellow]", highlight=False))
        except TuneError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2)
    best = o.result.best
    if as_json:
        print(json.dumps(o.summary, default=str), flush=True)
    else:
        b = f"{best.point.label()} cost {best.cost:.6g}" if best else "no verified point"
        s0 = f"{o.start_eval.cost:.6g}" if o.start_eval and o.start_eval.ok else "n/a"
        out.print(f"{strat} (seed {seed}): {len(o.result.history)} trials ({o.result.stopped}); best {b}; "
                  f"start {s0}; {'written to ' + str(folder) if o.written else 'folder unchanged'}; "
                  f"campaign {o.campaign}; {o.result.wall_s:.1f} s", highlight=False)
    raise typer.Exit(0 if best is not None else 1)
