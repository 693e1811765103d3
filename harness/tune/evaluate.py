"""The real evaluator: render a parameter point of a generated kernel folder, measure it
through the campaign runner (compile ahead in parallel, device lock, quarantine, each trial
committed before the next) and return the one objective (harness.measure.compare.cost).

    target = Target.load(Path("generated/host/gemm_64x64x64_f32"))
    ev = KernelEvaluator(lab, store, target, campaign="tune-...")
    ev(point) -> Evaluation;  ev.evaluate_many(points) -> [Evaluation]

Also here: the incumbent rule per device (`accept_for`), the resume path (`prior_history`:
the evaluations of an earlier campaign rebuilt from the results database, never re-measured)
and `write_back` (the best point into the folder, with the search summary in meta.json).
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.measure import compare as objective
from harness.campaign.scheduler import Job, run_campaign
from harness.core.records import Status, Trial
from harness.core.records import Kernel
from harness.tune.base import Evaluation, Point, SearchResult, plain_less
from harness.core.space import ParamSpace, SpaceError
from harness.core import stats

LABEL_PREFIX = "tune:"
KiB = 1024


class TargetError(ValueError):
    pass


@dataclass
class Target:
    """A generated kernel folder: kernel.c, params.json, meta.json (generate.loop.write_result)."""

    folder: Path
    source: str
    space: ParamSpace
    values: dict[str, Any]
    meta: dict[str, Any]
    device: str
    shape: tuple[int, ...]
    primitive_set: str | None = None

    @property
    def op(self):
        """The operator the folder's kernel implements (meta.json op/dtype; GEMM f32 before ops existed)."""
        from harness.ops import get_op
        return get_op(self.meta.get("op") or "gemm", self.meta.get("dtype") or "f32")

    @classmethod
    def load(cls, folder: Path) -> "Target":
        folder = Path(folder)
        kf = folder / "kernel.c"
        if not kf.is_file() and (folder / "kernel.cu").is_file():   # a CUDA device's kernel
            kf = folder / "kernel.cu"
        if not kf.is_file():
            raise TargetError(f"{folder}: no kernel.c (expected a folder written by `tensorop generate`)")
        source = kf.read_text()
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise TargetError(f"{folder}: cannot read meta.json ({e})") from None
        params: dict = {}
        try:
            params = json.loads((folder / "params.json").read_text())
        except (OSError, json.JSONDecodeError):
            pass
        try:
            space = ParamSpace.from_json(params["space"]) if isinstance(params.get("space"), dict) \
                else ParamSpace.from_source(source)
        except SpaceError as e:
            raise TargetError(f"{folder}: bad parameter space: {e}") from None
        if space is None:
            raise TargetError(f"{folder}: kernel.c declares no tensorop-params block: nothing to tune")
        vals = params.get("values") if isinstance(params.get("values"), dict) else params
        values = {n: (vals or {}).get(n, space.defaults.get(n)) for n in space.params}
        if not meta.get("device") or not meta.get("shape"):
            raise TargetError(f"{folder}: meta.json lacks device or shape")
        return cls(folder, source, space, values, meta, meta["device"], tuple(int(x) for x in meta["shape"]),
                   # the kernel's own set (an alternative such as NEON beside SVE, or AMX tiles) before
                   # the device's primary one
                   (params.get("values") or {}).get("primitive_set") or meta.get("primitive_set"))

    @property
    def kernel_file(self) -> str:
        """kernel.cu for a CUDA device's folder, else kernel.c."""
        return "kernel.cu" if (self.folder / "kernel.cu").is_file() and not (self.folder / "kernel.c").is_file() \
            else "kernel.c"

    @property
    def expert(self) -> bool:
        return self.meta.get("generator") == "expert" or "tensorop's expert generator" in self.source[:300]

    def render(self, point: dict) -> str:
        """The kernel source at `point`: the expert template re-rendered, or (for an LLM's
        kernel) its `#define NAME value` lines and parameter block rewritten."""
        if self.expert and self.op.name == "conv2d":
            from harness.generate.templates.conv import rerender
            src = rerender(self.source, self.primitive_set, dict(point))
            if src is not None:
                return src
        elif self.expert and self.primitive_set:
            from harness.generate.templates.lowp import SETS as NATIVE
            from harness.generate.templates.cpu_gemm import SETS, render
            if self.primitive_set in SETS or self.primitive_set == "amx" or self.primitive_set in NATIVE:
                return render(self.primitive_set, dict(point), dtype=self.meta.get("dtype") or "f32")
        src = self.source
        for n, v in point.items():
            src, k = re.subn(rf"(?m)^(\s*#\s*define\s+{re.escape(n)}\s+)\S+", rf"\g<1>{v}", src)
            if not k:
                raise TargetError(f"kernel.c has no '#define {n}' to set")
        return re.sub(r"/\*\s*tensorop-params\s*\{.*?\}\s*\*/", lambda m: self.space.block(dict(point)), src,
                      count=1, flags=re.S)

    def context(self) -> dict:
        """The hardware context of the constraints, from meta.json's hardware factors."""
        hw = self.meta.get("hardware") or {}
        caches = hw.get("caches") or {}
        ctx = {"vregs": hw.get("vregs", 32), "lanes": max(1, hw.get("lanes") or 1),
               "l1d": caches.get("l1d", 32 * KiB), "l2": caches.get("l2", 512 * KiB),
               "l3": caches.get("l3") or caches.get("l2", 0), "vector_bits": hw.get("vector_bits", 0),
               "cores": hw.get("cores", 1)}
        return ctx

    def hardware_summary(self) -> str:
        hw = self.meta.get("hardware")
        if not hw:
            return ""
        try:
            from harness.generate.hardware import HardwareFactors
            return HardwareFactors(**hw).summary()
        except Exception:
            return json.dumps(hw)[:1500]

    @property
    def slug(self) -> str:
        return f"{self.device}-{self.folder.name}"


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
    """evaluate(point) / evaluate_many(points) through harness.campaign.scheduler.run_campaign."""

    def __init__(self, lab, store, target: Target, *, campaign: str, overrides: dict | None = None,
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

    def __call__(self, point: dict) -> Evaluation:
        return self.evaluate_many([point])[0]

    def kernel(self, point: dict) -> Kernel:
        return Kernel(label=LABEL_PREFIX + Point(point).label(), source=self.target.render(point).encode(),
                      name=self.target.kernel_file)

    def paired(self, a: Kernel, b: Kernel, budget_s: float) -> "objective.PairedRun":
        """Kernel a against kernel b on the target's device: paired, interleaved time."""
        from harness.transport import get_transport
        device = self.lab.devices[self.target.device]
        with get_transport(device, self.lab.ws) as tr:
            return objective.paired(self.lab.ws, device, self.lab.toolchain(device), tr, a, b, self.target.shape,
                                    budget_s=budget_s, op=self.target.op)

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
        from harness.backends import BaselineUnavailable, device_baseline
        device = self.lab.devices[self.target.device]
        try:    # a CUDA device: its vendor library (cuBLAS, cuDNN) in OpenBLAS's place
            ob = device_baseline(self.lab.ws, "openblas", device, self.target.op)
        except BaselineUnavailable:
            return None
        if device.emulated:
            k = self.kernel(point)
            trials = run_campaign(self.lab, [Job(k, device.name, self.target.shape, self.target.op),
                                             Job(ob, device.name, self.target.shape, self.target.op)], self.store,
                                  campaign=self.campaign, overrides=self.overrides)
            mine = next((t for t in trials if t.source_hash == k.hash), None)
            base = next((t for t in trials if t.source_hash == ob.hash), None)
            return objective.modelled_ratio(mine, base) if mine and base else None
        run = self.paired(self.kernel(point), ob, budget_s or self.pair_budget_s or FINAL_PAIR_BUDGET_S)
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
            trials = run_campaign(self.lab, [j for _, j in jobs], self.store, campaign=self.campaign,
                                  overrides=self.overrides, on_trial=self.on_trial, on_event=self.on_event)
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


def state_file(results_dir: Path, target: Target, strategy: str, seed: int) -> Path:
    h = hashlib.sha256(str(target.folder.resolve()).encode()).hexdigest()[:8]
    return Path(results_dir) / "tune" / f"{target.slug}-{h}-{strategy}-s{seed}.json"


def write_back(target: Target, result: SearchResult, trial: Trial | None, *, objective_name: str,
               campaign: str, vs_openblas: "stats.Ratio | None" = None) -> Path:
    """Write the best point to the folder: kernel.c, params.json, meta.json (search summary)."""
    best = result.best
    src = target.render(best.point)
    (target.folder / target.kernel_file).write_text(src)
    (target.folder / "params.json").write_text(json.dumps(
        {"values": {**dict(best.point), **({"primitive_set": target.primitive_set} if target.primitive_set else {})},
         "space": target.space.to_json()}, indent=2, default=str) + "\n")
    meta = dict(target.meta)
    if trial is not None:
        meta["measured"] = trial.to_json()
    meta["source_sha256"] = hashlib.sha256(src.encode()).hexdigest()[:16]
    meta["candidate"] = "tune:" + best.point.label()
    if vs_openblas is not None:   # re-measured with fresh inputs against OpenBLAS before it is written
        meta["vs_openblas"] = {**vs_openblas.to_json(), "against": "openblas"}
        meta["ratio_basis"] = vs_openblas.metric
    meta["tune"] = {**search_summary(result, objective_name, campaign), "previous": dict(target.values),
                    "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (target.folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return target.folder


def search_summary(result: SearchResult, objective_name: str, campaign: str) -> dict:
    s = result.summary()
    bsf = result.best_so_far()
    return {**s, "objective": objective_name, "campaign": campaign,
            "best_so_far": bsf[-50:] if len(bsf) > 50 else bsf,
            "history": [{"trial": e.trial, "point": dict(e.point), "cost": e.cost, "status": e.status,
                         "trial_id": e.trial_id} for e in result.history][-200:]}
