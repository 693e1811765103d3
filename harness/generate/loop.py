"""The generate loop: comprehend the hardware, ask the generator for candidates, verify and
measure each through the campaign (harness/campaign/scheduler.py: the device's lock, quarantine,
storage), compare each with the device's baseline by the one objective (Campaign.compare), feed
the results back, keep the best verified kernel, re-measure it beside the baseline, and write
generated/<device>/<op>_<shape>_<dtype>/ (harness/generate/folder.py).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.backends import BaselineUnavailable, backend_for, device_baseline
from harness.backends.cpu.probe import ProbeError
from harness.campaign.scheduler import Campaign, Job
from harness.campaign.store import Store
from harness.config.lab import Lab
from harness.core import stats
from harness.core.records import Kernel, Status, Trial
from harness.generate.base import Candidate, Feedback, Generator, Task
from harness.generate.factors import HardwareFactors
from harness.generate.folder import write_generated
from harness.generate.hardware import comprehend
from harness.generate.cuda import compile_report
from harness.backends.compile_only import build_one

SEARCH_BUDGET = {"max_time_s": 0.5, "min_samples": 3, "max_samples": 10}
SEARCH_BUDGET_EMULATED: dict = {}          # one profiled call: nothing to budget
SEARCH_PAIR_S = 4.0                        # paired time against OpenBLAS per candidate (real devices)
FINAL_PAIR_S = 30.0                        # paired time of the chosen kernel against OpenBLAS
MAX_LOG_CHARS = 3000


@dataclass
class DeviceResult:
    device: str
    task: Task
    hardware: HardwareFactors | None = None
    history: list[Feedback] = field(default_factory=list)
    best: Candidate | None = None
    final: Trial | None = None
    openblas: Trial | None = None
    vs_openblas: float | None = None
    basis: str = ""
    comparison: "stats.Ratio | None" = None
    tuned: dict | None = None          # the tuning stage's outcome (generate's last stage)
    folder: Path | None = None
    wall_s: float = 0.0
    error: str = ""
    trials: list[Trial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # shown at the end of `generate` and in meta.json
    report: list[str] = field(default_factory=list)     # CUDA without a GPU: the compile-only report

    @property
    def ok(self) -> bool:
        return self.final is not None and self.final.status is Status.OK


def trim_build_log(log: str, limit: int = MAX_LOG_CHARS) -> str:
    """The compiler's messages that matter: each error with its source line and caret (and the
    notes after it), verbatim; warnings and command lines dropped."""
    lines = log.splitlines()
    keep: list[str] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if re.search(r"\b(error|fatal error)\b", ln, re.I) and not ln.startswith("$ "):
            keep.append(ln)
            j = i + 1
            while j < len(lines) and j <= i + 3 and not re.search(r":\d+:\d+: (warning|error)", lines[j]):
                keep.append(lines[j])
                j += 1
            i = j
            continue
        i += 1
    text = "\n".join(keep) if keep else "\n".join(l for l in lines if not l.startswith("$ "))[-limit:]
    return text[:limit] + ("\n[... more errors trimmed]" if len(text) > limit else "")


def compare_to_baseline(c: Campaign, t: Trial, kernel: Kernel, baseline: Kernel | None, base: Trial | None,
                        op, budget_s: float) -> stats.Ratio | None:
    """The one objective's verdict of `t` against the baseline (Campaign.compare: modelled cycles
    on emulated devices, a paired interleaved measurement on real ones), stored with the trial.
    None when either is not ok."""
    if not base or baseline is None or t.status is not Status.OK or base.status is not Status.OK:
        return None
    run = c.compare(t.device, kernel, baseline, t.shape, op, trials=(t, base), budget_s=budget_s)
    if run.ratio is not None:
        c.store.set_meta(t, paired=run.ratio.to_json()) if t.id is not None else t.meta.update(
            paired=run.ratio.to_json())
    return run.ratio


def feedback_from(round_: int, cand: Candidate, t: Trial, base: Trial | None,
                  cmp: stats.Ratio | None = None) -> Feedback:
    fb = Feedback(round=round_, label=cand.label, status=t.status.value, params=cand.params,
                  source_hash=t.source_hash, trial_id=t.id)
    if t.status in (Status.COMPILE_ERROR, Status.LINK_ERROR):
        fb.message = f"The compiler rejected the kernel ({t.error.splitlines()[0] if t.error else t.status}):\n" + \
            trim_build_log(t.build_log)
    elif t.status is Status.WRONG_ANSWER:
        fb.message = f"Wrong result: {t.error}" + \
            (f" (max relative error {t.max_rel_err:.3g}, bound ~1e-5)" if t.max_rel_err is not None and
             math.isfinite(t.max_rel_err) and f"{t.max_rel_err:.3e}" not in t.error else "")
    elif t.status in (Status.CRASH, Status.TIMEOUT):
        fb.message = f"The kernel {'crashed' if t.status is Status.CRASH else 'timed out'}: {t.error}"
    elif t.status is Status.REJECTED:
        fb.message = f"Rejected: {t.error}"
    elif t.status is Status.SUSPICIOUS:
        fb.message = f"Not believed: {t.error}. Results must come from doing the whole computation."
    elif t.status is Status.OK:
        fb.gflops, fb.insns, fb.cycles = t.gflops, t.insns, t.cycles
        fb.median_s = t.summary.median if t.summary else None
        if cmp is not None:
            fb.vs_openblas, fb.basis = cmp.ratio, cmp.metric
        parts = [f"Verified (max relative error {t.max_rel_err:.2g})."]
        if t.emulated:
            parts.append(f"Modelled cycles per call: {t.cycles:,.0f} on {t.model} = {t.gflops:.2f} GFLOP/s "
                         f"(modelled at the device's nominal clock)" if t.cycles else "No cycle model.")
            if t.insns:
                parts.append(f"Dynamic instructions per call: {t.insns:,} (not a speed: an LMUL-8 op counts as one)")
            if base and base.cycles:
                parts.append(f"OpenBLAS: {base.cycles:,.0f} modelled cycles")
        elif t.emulation == "system":
            parts.append(f"Median {fb.median_s * 1e3:.3f} ms per call under QEMU system emulation = "
                         f"{t.gflops:.2f} GFLOP/s emulated (the emulator's speed, not the board's)")
        else:
            parts.append(f"Median {fb.median_s * 1e3:.3f} ms per call = {t.gflops:.2f} GFLOP/s")
        if cmp is not None:
            parts.append(f"Speed relative to OpenBLAS: {cmp.describe()} (>1 is faster than OpenBLAS)")
        fb.message = "\n".join(parts)
    else:
        fb.message = f"{t.status}: {t.error}"
    return fb


def _better(fb: Feedback, best: Feedback | None) -> bool:
    """By the one objective: the ratio to the same OpenBLAS baseline (paired time or modelled
    cycles); without a baseline, modelled cycles or the candidate's own median."""
    if not fb.ok:
        return False
    if best is None:
        return True
    if fb.vs_openblas is not None and best.vs_openblas is not None:
        return fb.vs_openblas > best.vs_openblas
    if fb.cycles and best.cycles:
        return fb.cycles < best.cycles
    return (fb.median_s or float("inf")) < (best.median_s or float("inf"))


def generate_on_device(lab: Lab, task: Task, device_name: str, generator: Generator, store: Store, *,
                       rounds: int, campaign: str, search_overrides: dict | None = None,
                       final_overrides: dict | None = None, on_event: Callable[[str], None] | None = None,
                       write: bool = True, root: Path | None = None, search_pair_s: float = SEARCH_PAIR_S,
                       final_pair_s: float = FINAL_PAIR_S) -> DeviceResult:
    """root: where the kernel folder goes (default generated/); search_pair_s, final_pair_s:
    seconds of paired timing against the baseline per candidate and for the chosen one (real devices)."""
    say = on_event or (lambda s: None)
    t0 = time.monotonic()
    device = lab.devices[device_name]
    res = DeviceResult(device=device_name, task=task)
    try:
        hw = comprehend(lab, device)
    except ProbeError as e:
        res.error = f"hardware probe failed on {device_name}: {e}"
        say(f"{device_name}: {res.error}")
        return res
    res.hardware = hw
    backend = backend_for(device)
    what = backend.describe(device) if hw.primitive_set == "cuda" else \
        f"{hw.vector_bits} bit vectors, {hw.vregs} registers"
    say(f"{device_name}: {hw.primitive_set} ({what}) via {hw.source}")
    search = dict(SEARCH_BUDGET_EMULATED if device.emulated else SEARCH_BUDGET)
    search.update(search_overrides or {})
    final = dict(final_overrides or {})
    shape, op, kname = task.shape, task.the_op, backend.kernel_file
    with Campaign(lab, store, campaign=campaign, on_event=lambda d, text: say(f"{d}: {text}")) as c:

        def trial(kernel: Kernel, overrides: dict, baseline: Kernel | None = None, base: Trial | None = None,
                  pair_s: float = 0.0) -> tuple[Trial, stats.Ratio | None]:
            """Measure (stored by the campaign), then compare with the baseline by the one objective."""
            t = c.run([Job(kernel, device_name, shape, op)], overrides=overrides)[0]
            cmp = compare_to_baseline(c, t, kernel, baseline, base, op, pair_s) if base is not None else None
            res.trials.append(t)
            return t, cmp

        base = None
        try:
            ob = device_baseline(lab.ws, "openblas", device, op)   # a CUDA device: its vendor library
            base, _ = trial(ob, search)
            say(f"{device_name}: {ob.label} {base.status}" + (f" {base.gflops:.2f} GFLOP/s" if base.gflops else "")
                + (f" (modelled, {base.cycles:,.0f} cycles)" if base.cycles else ""))
        except BaselineUnavailable as e:
            ob = None
            say(f"{device_name}: no baseline ({e})")

        best_fb: Feedback | None = None
        best_cand: Candidate | None = None
        for r in range(1, rounds + 1):
            try:
                cand = generator.propose(task, hw, res.history)
            except Exception as e:   # the generator itself failed (e.g. the endpoint is down)
                res.error = f"generator failed in round {r}: {e}"
                say(f"{device_name}: {res.error}")
                break
            if cand is None:
                break
            if cand.rejected:
                fb = Feedback(round=r, label=cand.label or f"round{r}", status="rejected", message=cand.rejection)
                res.history.append(fb)
                say(f"{device_name}: round {r}: rejected: {cand.rejection[:120]}")
                continue
            if cand.notes:
                say(f"{device_name}: round {r} {cand.label}: note: {cand.notes}")
            k = Kernel(label=f"gen:{cand.label or f'round{r}'}", source=cand.source.encode(), name=kname)
            t, cmp = trial(k, search, ob, base, search_pair_s)
            if t.status is Status.DEVICE_ERROR and hw.primitive_set == "cuda":
                # the GPU (or its driver, or a library) is not there: no later candidate can run either
                res.error = t.error
                say(f"{device_name}: round {r} {cand.label}: built, but cannot run: {t.error}")
                res.report = _compile_only(lab, device, cand, generator, task, hw, res.history, r, rounds)
                break
            fb = feedback_from(r, cand, t, base, cmp)
            if cand.notes:
                fb.message = f"Note: {cand.notes}\n{fb.message}"
            res.history.append(fb)
            say(f"{device_name}: round {r} {cand.label}: {t.status}" +
                (f" {t.gflops:.2f} GFLOP/s" + (" modelled" if t.emulated else
                                               " emulated" if t.emulation == "system" else "") if t.gflops else "") +
                (f", {cmp.describe()} vs {cmp.baseline_name}" if cmp else "") +
                ("" if t.status is Status.OK else f": {t.error.splitlines()[0][:150] if t.error else ''}"))
            if _better(fb, best_fb):
                best_fb, best_cand = fb, cand

        if best_cand is None:
            res.error = res.error or "no candidate passed verification"
            res.wall_s = time.monotonic() - t0
            return res
        res.best = best_cand
        # re-measure the best verified candidate and the baseline with the final budget
        say(f"{device_name}: re-measuring the best candidate ({best_cand.label}) and {ob.label if ob else 'no baseline'}")
        fk = Kernel(label="generated", source=best_cand.source.encode(), name=kname)
        if ob is not None:
            res.openblas, _ = trial(ob, final)
        final_t, res.comparison = trial(fk, final, ob, res.openblas, final_pair_s)
        res.final = final_t
        if res.comparison is not None:
            res.vs_openblas, res.basis = res.comparison.ratio, res.comparison.metric
    res.wall_s = time.monotonic() - t0
    if write and res.ok:
        res.folder = write_generated(lab, res, generator, root)
    return res


def _compile_only(lab: Lab, device, first: Candidate, generator: Generator, task: Task, hw: HardwareFactors,
                  history: list[Feedback], round_: int, rounds: int) -> list[str]:
    """CUDA without a GPU: the compile-only report (harness/backends/compile_only.py) of the candidate
    that could not run and of the generator's remaining candidates (expert: the rest of its plan;
    an LLM is not asked again: it would get no measurement to improve on)."""
    cands = [first]
    if getattr(generator, "name", "") == "expert":
        while len(cands) < rounds - round_ + 1:
            c = generator.propose(task, hw, history + [Feedback(round=round_, label=x.label, status="device_error",
                                                                 params=x.params) for x in cands])
            if c is None:
                break
            cands.append(c)
    lines = []
    for c in cands:
        status, rep = compile_report(lab, device, c.source)
        lines += [f"{c.label}: {status}", *(f"  {l}" for l in rep)]
    return lines


def build_only(lab: Lab, task: Task, device_name: str, generator: Generator, rounds: int,
               on_event: Callable[[str], None] | None = None) -> DeviceResult:
    """`generate --build-only`: the generator's candidates compiled, gated and inspected (the
    compile-only report on CUDA devices; the object gate and link on CPU ones), nothing run.
    Compile errors go back to the generator as feedback."""
    say = on_event or (lambda s: None)
    device = lab.devices[device_name]
    res = DeviceResult(device=device_name, task=task)
    t0 = time.monotonic()
    try:
        res.hardware = hw = comprehend(lab, device)
    except ProbeError as e:
        res.error = f"hardware probe failed on {device_name}: {e}"
        return res
    built = 0
    for r in range(1, rounds + 1):
        cand = generator.propose(task, hw, res.history)
        if cand is None:
            break
        if cand.rejected:
            res.history.append(Feedback(round=r, label=cand.label, status="rejected", message=cand.rejection))
            continue
        if device.cuda:
            status, rep = compile_report(lab, device, cand.source)
        else:
            import tempfile
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / "kernel.c"
                p.write_text(cand.source)
                rec = build_one(lab, device, p)
            status, rep = rec["status"], ([rec["error"]] if rec.get("error") else []) + rec.get("_lines", [])
        res.report += [f"{cand.label}: {status}", *(f"  {l}" for l in rep)]
        say(f"{device_name}: round {r} {cand.label}: {status}")
        fb = Feedback(round=r, label=cand.label, status=status, params=cand.params,
                      message="Built (not run: --build-only).\n" + "\n".join(rep))
        res.history.append(fb)
        if status == Status.OK.value:
            built += 1
            res.best = res.best or cand
    if not built:
        res.error = "no candidate built"
    res.wall_s = time.monotonic() - t0
    return res


