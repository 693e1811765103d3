"""`tensorop generate`: one-line prompt -> verified, measured kernel in generated/."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from harness.tune.pipeline import EXPERT_ROUNDS, LLM_ROUNDS, TUNE_BUDGET, generate_and_tune
from harness.generate.prompt import DEFAULT_PROMPT, PromptError, parse_prompt, parse_with_llm
from harness.campaign import report as rep
from harness.campaign.scheduler import new_campaign_id
from harness.config.yamlfile import ConfigError
from harness.config.lab import Lab
from harness.campaign.store import Store
from harness.generate.expert import ExpertGenerator
from harness.generate.llm import LLMClient, LLMConfig, LLMError, ReplayClient, SessionStore
from harness.generate.llm_generator import LLMGenerator
from harness.generate.loop import build_only as build_candidates

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)



def generate(prompt: Optional[str] = typer.Argument(None, help=f"What to generate (default: {DEFAULT_PROMPT!r})."),
             device: Optional[List[str]] = typer.Option(None, "--device", "-d",
                                                        help="Device name or alias (overrides the prompt's)."),
             generator: str = typer.Option("auto", "--generator", "-g",
                                           help="auto (LLM if an endpoint is configured, else expert) | expert | llm"),
             model: Optional[str] = typer.Option(None, "--model", help="Model name (env TENSOROP_MODEL/OPENAI_MODEL)."),
             base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint "
                                                    "(env OPENAI_BASE_URL); the key comes from OPENAI_API_KEY."),
             rounds: Optional[int] = typer.Option(None, "--rounds", "-r",
                                                  help=f"Candidates per device (expert {EXPERT_ROUNDS}, LLM {LLM_ROUNDS})."),
             replay: Optional[Path] = typer.Option(None, "--replay", help="Re-run from a stored session's answers."),
             stream: bool = typer.Option(True, "--stream/--no-stream", help="Stream LLM answers."),
             max_time: Optional[float] = typer.Option(None, help="Sampling budget per final measurement, s."),
             min_samples: Optional[int] = typer.Option(None), max_samples: Optional[int] = typer.Option(None),
             search_max_time: Optional[float] = typer.Option(None, help="Sampling budget per candidate, s."),
             as_json: bool = typer.Option(False, "--json", help="One JSON object per device on stdout."),
             tune_budget: int = typer.Option(TUNE_BUDGET, "--tune-budget",
                                             help="Trials of MCTS tuning (`tensorop tune`) on each generated "
                                                  "kernel, its last stage; 0: none."),
             build_only: bool = typer.Option(False, "--build-only", help="Only build the generator's candidates "
                                             "(compile, object gate; on a CUDA device the compile-only report: "
                                             "registers, spills, occupancy, tensor-core instructions); run nothing."),
             devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Generate a verified, measured kernel from a one-line prompt (LLM or built-in expert), then
    tune its parameters (MCTS on the one objective). On a CUDA device without a GPU nothing can
    run: it stops with the device error and gives the compile-only report of the candidates."""

    t_start = time.monotonic()
    try:
        lab = Lab.load(devices_file=devices_file)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    text = prompt or DEFAULT_PROMPT
    cfg = LLMConfig.from_env(base_url=base_url, model=model, stream=stream)
    use_llm = replay is not None or generator == "llm" or (generator == "auto" and cfg.configured)
    if generator not in ("auto", "expert", "llm"):
        err.print(f"[red]error:[/red] unknown generator {generator!r}; use auto, expert or llm")
        raise typer.Exit(2)

    session = client = None
    if use_llm:
        session = SessionStore(lab.ws.results / "sessions", meta={"prompt": text})
        progress = lambda s: err.print(f"[dim]  llm: {s}[/dim]", highlight=False)
        try:
            client = ReplayClient(replay, session, progress) if replay else LLMClient(cfg, session, progress)
        except LLMError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
        err.print(f"[dim]generator: {'replay of ' + str(replay) if replay else 'LLM ' + cfg.model + ' at ' + cfg.host}; "
                  f"session {session.dir}[/dim]", highlight=False)

    try:
        task = parse_with_llm(text, lab.devices, client) if client is not None else None
    except LLMError as e:
        err.print(f"[red]error:[/red] the LLM endpoint failed while reading the prompt: {e}", highlight=False)
        raise typer.Exit(2)
    if task is None:
        try:
            task = parse_prompt(text, lab.devices, default_devices=("host",) if device else (),
                                notify=lambda m: err.print(f"[yellow]note:[/yellow] {m}", highlight=False))
        except PromptError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2)
    if device:
        try:
            from dataclasses import replace
            task = replace(task, devices=tuple(dict.fromkeys(lab.device(d).name for d in device)))
        except ConfigError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2)
    n_rounds = rounds or (LLM_ROUNDS if use_llm else EXPERT_ROUNDS)
    err.print(f"[bold]task:[/bold] {task.op} {task.dtype} {task.shape_text} on {', '.join(task.devices)} "
              f"({'llm' if use_llm else 'expert'} generator, {n_rounds} rounds)", highlight=False)
    final = {k: v for k, v in {"max_time_s": max_time, "min_samples": min_samples,
                               "max_samples": max_samples}.items() if v is not None}
    search = {"max_time_s": search_max_time} if search_max_time is not None else {}
    if min_samples is not None:
        search["min_samples"] = min_samples
    if max_samples is not None:
        search["max_samples"] = max_samples
    campaign = "generate-" + new_campaign_id()
    results = []
    if build_only:
        ok = True
        for d in task.devices:
            gen = LLMGenerator(client, scratch=lab.ws.scratch) if use_llm else ExpertGenerator(points=n_rounds)
            r = build_candidates(lab, task, d, gen, n_rounds, on_event=lambda s: err.print(f"[dim]{s}[/dim]",
                                                                                          highlight=False))
            ok = ok and not r.error
            if as_json:
                print(json.dumps({"device": d, "ok": not r.error, "error": r.error or None, "report": r.report}),
                      flush=True)
                continue
            out.print(f"[bold]{d}[/bold] (build only)" + (f": [red]{r.error}[/red]" if r.error else ""),
                      highlight=False)
            for line in r.report:
                out.print(f"  {line}", highlight=False, markup=False)
        raise typer.Exit(0 if ok else 1)
    with Store(lab.ws.database) as store:
        for d in task.devices:
            gen = LLMGenerator(client, scratch=lab.ws.scratch) if use_llm else ExpertGenerator(points=n_rounds)
            try:
                r = generate_and_tune(lab, task, d, gen, store, rounds=n_rounds, campaign=campaign,
                                      tune_budget=tune_budget,
                                      on_event=lambda s: err.print(f"[dim]{s}[/dim]", highlight=False),
                                      search_overrides=search, final_overrides=final)
            except LLMError as e:
                err.print(f"[red]{d}: LLM failed:[/red] {e}")
                continue
            results.append(r)
            tuned = r.tuned
            if as_json:
                print(json.dumps({"device": d, "ok": r.ok, "folder": str(r.folder) if r.folder else None,
                                  "vs_openblas": r.comparison.to_json() if r.comparison else None, "tuned": tuned,
                                  "wall_s": round(r.wall_s, 2),
                                  "error": r.error or None, "trial": r.final.to_json() if r.final else None,
                                  **({"report": r.report} if r.report else {})}),
                      flush=True)
    if session is not None:
        totals = session.totals()
        session.update(**totals, campaign=campaign)
        err.print(f"[dim]session {session.dir}: {totals['exchanges']} exchanges, {totals['prompt_tokens']} + "
                  f"{totals['completion_tokens']} tokens, ~${totals['cost_usd']:.4f}[/dim]", highlight=False)
    warnings = [w for r in results for w in r.warnings]
    if getattr(client, "mismatches", 0):
        warnings.append(f"replay: {client.mismatches} request(s) differed from the stored session's; the stored "
                        "answers were used anyway (the prompt, hardware profile or feedback changed)")
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    if not as_json:
        trials = []
        for r in results:
            trials += [t for t in (r.final, r.openblas) if t is not None]
        if trials:
            rep.print_table(rep.with_ratios(trials, trials), title=f"tensorop generate: {task.op} {task.dtype} "
                            f"{task.shape_text} (campaign {campaign})", console=out)
        for r in results:
            if r.ok:
                ratio = (f"{r.comparison.describe()} vs {r.comparison.baseline_name}" if r.comparison
                         else "no speed comparison: emulated board (QEMU system mode), its wall times are the "
                              "emulator's" if r.final is not None and r.final.emulation == "system"
                         else "no baseline comparison")
                if r.comparison is not None and r.comparison.note:
                    ratio += f"; {r.comparison.note}"
                t = getattr(r, "tuned", None)
                if t and t["written"] and t["vs_openblas"]:
                    v = t["vs_openblas"]
                    ci = f" [{v['ratio_ci95'][0]:.3f}, {v['ratio_ci95'][1]:.3f}]" if v.get("ratio_ci95") else ""
                    ratio += f"; tuned to {t['candidate']}: {v['ratio']:.3f}x{ci} ({v['metric']})"
                elif t:
                    ratio += "; tuning kept it"
                out.print(f"{r.device}: {r.best.label} -> {r.folder} ({ratio}; {r.wall_s:.1f} s)", highlight=False)
            else:
                out.print(f"[red]{r.device}: no verified kernel[/red] ({r.error})", highlight=False)
                if r.report:
                    out.print(f"{r.device}: compile-only report of the candidates (nothing ran):", highlight=False)
                    for line in r.report:
                        out.print(f"  {line}", highlight=False, markup=False)
        out.print(f"total wall time {time.monotonic() - t_start:.1f} s", highlight=False)
    ok = results and len(results) == len(task.devices) and all(r.ok for r in results)
    raise typer.Exit(0 if ok else 1)


