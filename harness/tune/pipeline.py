"""generate's pipeline on one device, the library behind `tensorop generate` and the bench
suite's generated kernels: the generate loop (generate/loop.py: candidates verified, measured and
compared with the baseline, the best written to its folder), then its tuning stage
(tune/session.py: MCTS on the one objective) on that folder."""
from __future__ import annotations

import json
from typing import Optional

from harness.generate.loop import generate_on_device
from harness.tune.session import TuneError, tune_folder

EXPERT_ROUNDS = 4        # candidates per device of the expert generator (`--rounds`)
LLM_ROUNDS = 6           # of an LLM
TUNE_BUDGET = 8          # MCTS trials after generation (`--tune-budget`)

def generate_and_tune(lab, task, device_name: str, generator, store, *, rounds: int, campaign: str,
                      tune_budget: int, on_event=None,
                      tune_pair_budget_s: Optional[float] = None, **generate_options):
    """`generate`'s pipeline on one device: the generate loop (generate.loop.generate_on_device:
    candidates verified and measured, the best written to its folder), then its tuning stage
    (harness/tune/session.py tune_folder: MCTS on the one objective, `tune_budget` trials; 0:
    none) on that folder.
    Returns the loop's DeviceResult with `tuned` set when the tuning stage ran; the kernel is the
    folder's kernel.c. generate_options go to generate_on_device (root, overrides, pair budgets)."""
    say = on_event or (lambda s: None)
    r = generate_on_device(lab, task, device_name, generator, store, rounds=rounds, campaign=campaign,
                           on_event=on_event, **generate_options)
    fixed = r.ok and r.folder is not None and (r.folder / "kernel.cu").is_file() and \
        (r.folder / "params.json").is_file() and "space" not in json.loads((r.folder / "params.json").read_text())
    if tune_budget > 0 and r.ok and fixed:
        say(f"{device_name}: no tuning stage: {r.folder / 'kernel.cu'} declares no tunable parameters")
    elif tune_budget > 0 and r.ok and r.folder is not None:
        say(f"{device_name}: tuning {r.folder} (mcts, {tune_budget} trials)")
        try:
            outcome = tune_folder(lab, store, r.folder, budget=tune_budget, pair_budget_s=tune_pair_budget_s,
                                  on_note=say, on_evaluation=lambda e: say(
                                      f"tune #{e.trial} {e.point.label()}: " + (f"{e.cost:.6g}" if e.ok else e.status)))
            rc = 0 if outcome.result.best is not None else 1
        except TuneError as e:     # e.g. an LLM's kernel that declares no parameters: nothing to tune
            say(f"{device_name}: no tuning stage: {e}")
            rc = 2
        meta = json.loads((r.folder / "meta.json").read_text())
        r.tuned = {"exit": rc, "written": "tune" in meta, "vs_openblas": meta.get("vs_openblas"),
                   "candidate": meta.get("candidate"), "budget": tune_budget}
    return r


