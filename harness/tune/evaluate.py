"""The real evaluator: render a parameter point of a generated kernel folder, measure it
through the campaign (compile ahead in parallel, device lock, quarantine, each trial committed
before the next) and return the one objective (harness.measure.compare.cost).

    target = KernelFolder.load(Path("generated/host/gemm_64x64x64_f32"))
    with KernelEvaluator(lab, store, target, campaign="tune-...") as ev:
        ev(point) -> Evaluation;  ev.evaluate_many(points) -> [Evaluation]

Also here: the incumbent rule per device (`accept_for`) and the resume path (`prior_history`:
the evaluations of an earlier campaign rebuilt from the results database, never re-measured).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

from harness.backends import BaselineUnavailable, device_baseline
from harness.campaign.scheduler import Campaign, Job
from harness.core import stats
from harness.core.records import Kernel, Status, Trial
from harness.generate.folder import KernelFolder
from harness.measure import compare as objective
from harness.tune.base import Evaluation, Point, plain_less

LABEL_PREFIX = "tune:"


def evaluation_of(point: dict, t: Trial) -> Evaluation:
    c = objective.cost(t)
    status = t.status.value if isinstance(t.status, Status) else str(t.status)
    if status == "ok" and c is None:
        status = "no_cost"
    return Evaluation(Point(point), c, status, t.error or "", t.id,
                      meta={"metric": objective.metric(t), "gflops": t.gflops})


PAIR_BUDGET_S = 10.0       # paired timing per incumbent challenge on a real device
FINAL_PAIR_BUDGET_S = 30.0  # paired timing of the chosen point against OpenBLAS (real devices)


class KernelEvaluator:
    """evaluate(point) / evaluate_many(points) through one Campaign (harness/campaign/scheduler.py),
    kept for the search's life; a context manager (close() releases the device)."""

    def __init__(self, lab, store, target: KernelFolder, *, campaign: str, overrides: dict | None = None,
                 on_trial: Callable[[Trial], None] | None = None, on_event: Callable[[str, str], None] | None = None,
                 pair_budget_s: float | None = None):
        """pair_budget_s: seconds of each paired comparison on a real device (incumbent challenges
        and the re-measure against OpenBLAS); None: PAIR_BUDGET_S and FINAL_PAIR_BUDGET_S."""
        self.lab, self.store, self.target, self.campaign = lab, store, target, campaign
        self.pair_budget_s = pair_budget_s
        self.overrides = overrides or {}
        self.on_trial, self.on_event = on_trial, on_event
        self.trials: dict[int, Trial] = {}
        self.metric = "modelled_cycles" if lab.devices[target.device].emulated else "time"
        self.c = Campaign(lab, store, campaign=campaign, overrides=self.overrides, on_event=on_event)

    def __enter__(self) -> "KernelEvaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.c.close()

    def __call__(self, point: dict) -> Evaluation:
        return self.evaluate_many([point])[0]

    def kernel(self, point: dict) -> Kernel:
        return Kernel(label=LABEL_PREFIX + Point(point).label(), source=self.target.render(point).encode(),
                      name=self.target.kernel_file)

    def paired(self, a: Kernel, b: Kernel, budget_s: float) -> objective.Comparison:
        """Kernel a against kernel b on the target's device by the one objective (Campaign.compare)."""
        return self.c.compare(self.target.device, a, b, self.target.shape, self.target.op, budget_s=budget_s)

    def paired_better(self, new: Evaluation, inc: Evaluation, budget_s: float | None = None) -> bool | None:
        """Does the newcomer beat the incumbent in a paired comparison, with significance?
        None when the comparison could not be made."""
        budget_s = budget_s or self.pair_budget_s or PAIR_BUDGET_S
        try:
            run = self.paired(self.kernel(new.point), self.kernel(inc.point), budget_s)
        except Exception:
            return None
        if run.ratio is None or run.status is not Status.OK:
            return None
        return run.ratio.ratio > 1.0 and run.ratio.significant

    def versus_openblas(self, point: dict, budget_s: float | None = None) -> "stats.Ratio | None":
        """The chosen point re-measured with fresh inputs against OpenBLAS by the one objective
        (paired time on real devices; modelled cycles of fresh trials on emulated ones)."""
        device = self.lab.devices[self.target.device]
        try:    # a CUDA device: its vendor library (cuBLAS, cuDNN) in OpenBLAS's place
            ob = device_baseline(self.lab.ws, "openblas", device, self.target.op)
        except BaselineUnavailable:
            return None
        # the re-measure is not one of the search's points: its trials (emulated devices) are stored
        # apart, so a resumed search counts exactly the points it measured
        run = self.c.compare(self.target.device, self.kernel(point), ob, self.target.shape, self.target.op,
                             budget_s=budget_s or self.pair_budget_s or FINAL_PAIR_BUDGET_S,
                             store_as=self.campaign + "-vs-baseline")
        return run.ratio if run.status is Status.OK else None

    def evaluate_many(self, points: Sequence[dict]) -> list[Evaluation]:
        out: list[Evaluation | None] = [None] * len(points)
        jobs: list[tuple[int, Job]] = []
        for i, p in enumerate(points):
            try:
                src = self.target.render(p)
            except Exception as e:
                out[i] = Evaluation(Point(p), None, "render_error", f"{type(e).__name__}: {e}")
                continue
            k = Kernel(label=LABEL_PREFIX + Point(p).label(), source=src.encode(), name=self.target.kernel_file)
            jobs.append((i, Job(k, self.target.device, self.target.shape, self.target.op)))
        if jobs:
            trials = self.c.run([j for _, j in jobs], on_trial=self.on_trial)
            by_label: dict[str, Trial] = {}
            for t in trials:
                by_label.setdefault(t.kernel, t)
                if t.id is not None:
                    self.trials[t.id] = t
            for i, j in jobs:
                t = by_label.get(j.kernel.label)
                out[i] = evaluation_of(points[i], t) if t is not None else \
                    Evaluation(Point(points[i]), None, "device_error", "the campaign returned no trial")
        return [e for e in out if e is not None]


def significance_accept(trials: dict[int, Trial], paired: Callable[[Evaluation, Evaluation], bool | None] | None = None,
                        ) -> Callable[[Evaluation, Evaluation], bool]:
    """The incumbent rule on real devices: a newcomer whose own median is not lower is never
    taken; one that is must also win a paired, interleaved comparison with significance
    (`paired`, e.g. KernelEvaluator.paired_better). Where no paired comparison can be made, the
    95% confidence intervals of the two medians must not overlap."""
    def accept(new: Evaluation, inc: Evaluation) -> bool:
        if new.cost is None:
            return False
        if inc.cost is None:
            return True
        if new.cost >= inc.cost:
            return False
        if paired is not None:
            verdict = paired(new, inc)
            if verdict is not None:
                return bool(verdict)
        tn, ti = trials.get(new.trial_id), trials.get(inc.trial_id)
        if tn is not None and ti is not None and tn.summary and ti.summary:
            return tn.summary.ci_hi < ti.summary.ci_lo
        return False
    return accept


def accept_for(emulated: bool, trials: dict[int, Trial],
               paired: Callable[[Evaluation, Evaluation], bool | None] | None = None
               ) -> Callable[[Evaluation, Evaluation], bool]:
    """Modelled cycles are deterministic: plain `<`; real time is noisy: a paired significance test."""
    return plain_less if emulated else significance_accept(trials, paired)


def prior_history(store, campaign: str, trials: dict[int, Trial] | None = None) -> list[Evaluation]:
    """The evaluations an earlier (killed) campaign finished, from the results database, in
    order; device errors are left out (they are measured again)."""
    out, seen = [], set()
    for t in store.campaign_trials(campaign):
        if t.status in (Status.DEVICE_ERROR, Status.INTERNAL_ERROR) or not t.kernel.startswith(LABEL_PREFIX):
            continue
        p = Point.parse_label(t.kernel[len(LABEL_PREFIX):])
        if p.key in seen:
            continue
        seen.add(p.key)
        if trials is not None and t.id is not None:
            trials[t.id] = t
        out.append(evaluation_of(p, t))
    return out


def state_file(results_dir: Path, target: KernelFolder, strategy: str, seed: int) -> Path:
    h = hashlib.sha256(str(target.folder.resolve()).encode()).hexdigest()[:8]
    return Path(results_dir) / "tune" / f"{target.slug}-{h}-{strategy}-s{seed}.json"


