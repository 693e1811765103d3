"""Running a command's jobs: the shapes each device gets (--shape or a suite), the measurement
overrides, the campaign with live progress (or JSON lines), Ctrl-C with the command that resumes
it, `--against` comparisons by the one objective, and the results table."""
from __future__ import annotations

import json
import shlex
import signal
import sys
from typing import List, Optional

from harness.apps.common import err, fail, op_of, out, resolve_devices, shape_of
from harness.apps.progress import DeviceProgress
from harness.campaign import report as rep
from harness.campaign.scheduler import Campaign, Job, new_campaign_id
from harness.campaign.store import Store
from harness.config.lab import Lab
from harness.core import stats
from harness.core.records import Kernel, Status, Trial
from harness.ops import Op, get_op
from harness.ops.suites import SUITES, UnknownSuite, describe_scaling, get_suite, scaled_shapes


def task_shapes(lab: Lab, op: str, dtype: str, shapes: Optional[List[str]], suite: Optional[str], scale: float,
                device: Optional[List[str]]) -> tuple[Op, list[str], dict[str, list[tuple[int, ...]]]]:
    """The op (a suite names its own op, and its dtype unless the given one is allowed), the
    devices, and each device's shapes: what bench and baseline measure."""
    if suite and op == "gemm" and suite in SUITES:
        op, dtype = SUITES[suite].op, (dtype if SUITES[suite].allows(dtype) else SUITES[suite].dtype)
    o = op_of(op, dtype)
    devs = resolve_devices(lab, device)
    return o, devs, shapes_for(o, shapes, suite, scale, devs, lab)


def shapes_for(o: Op, shapes: Optional[List[str]], suite: Optional[str], scale: float,
                devs: list[str], lab: Lab) -> dict[str, list[tuple[int, ...]]]:
    """device -> shapes: the --shape list, or a suite's layers scaled for each device (printed)."""
    if suite:
        if shapes:
            fail("give --shape or --suite, not both")
        try:
            st = get_suite(suite)
        except UnknownSuite as e:
            fail(str(e))
        if st.op != o.name or not st.allows(o.dtype):
            fail(f"suite {suite} is a {st.op} suite of dtype {'/'.join(st.dtypes or (st.dtype,))}; add --op {st.op}")
        out_ = {}
        for emulated in sorted({lab.devices[d].emulated for d in devs}):
            err.print(describe_scaling(st, scale, emulated), highlight=False)
        for d in devs:
            out_[d] = scaled_shapes(st, scale, lab.devices[d].emulated)
        return out_
    parsed = [shape_of(o, o.dtype, s) for s in (shapes or [o.default_shape])]
    return {d: parsed for d in devs}


def overrides(max_time, min_samples, max_samples, warmup, flush, rel_ci) -> dict:
    return {"max_time_s": max_time, "min_samples": min_samples, "max_samples": max_samples, "warmup": warmup,
            "flush": flush or None, "rel_ci": rel_ci}


def resume_hint(campaign: str) -> str:
    """The command line that continues this campaign."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a == "--resume":
            skip = True
            continue
        if not a.startswith("--resume="):
            argv.append(a)
    return "tensorop " + shlex.join(argv + ["--resume", campaign])


def execute(lab: Lab, jobs: list[Job], as_json: bool, overrides: dict, cflags: tuple[str, ...] = (),
             title: str = "tensorop results", resume: Optional[str] = None,
             against: Optional[dict[str, Kernel]] = None, target: float = 0.02, budget_s: float = 60.0) -> int:
    """Run the campaign; with `against` (device name -> the kernel to compare with there), each
    other kernel is then compared with it by the one objective."""
    if against:
        have = {(j.device, j.shape, j.kernel.hash) for j in jobs}
        jobs = jobs + list({(j.device, j.shape): Job(against[j.device], j.device, j.shape, j.op) for j in jobs
                            if j.device in against and (j.device, j.shape, against[j.device].hash) not in have}
                           .values())
    with Store(lab.ws.database) as store:
        if resume == "last":
            resume = store.latest_campaign()
            if resume is None:
                err.print("[red]error:[/red] --resume last: no campaign in the results database yet")
                return 2
        campaign = resume or new_campaign_id()
        err.print(f"campaign {campaign}" + (" (resumed)" if resume else ""), highlight=False)

        def on_trial(t: Trial):
            if not against:
                print(json.dumps({**t.to_json(), "campaign": campaign}), flush=True)

        def on_term(signum, frame):   # kill (SIGTERM) ends the run like Ctrl-C: with the resume hint
            raise KeyboardInterrupt
        old_term = signal.signal(signal.SIGTERM, on_term)

        def on_event(device: str, text: str):
            err.print(f"[yellow]{device}:[/yellow] {text}", highlight=False)
        try:
            with Campaign(lab, store, campaign=campaign, overrides=overrides, extra_cflags=cflags) as c:
                if as_json:
                    c.on_event = on_event
                    trials = c.run(jobs, on_trial=on_trial, resume=bool(resume))
                else:   # live progress, one line per device (harness/apps/progress.py)
                    with DeviceProgress(jobs, err) as prog:
                        c.on_event = prog.on_event
                        trials = c.run(jobs, on_start=prog.on_start, on_trial=prog.on_trial, resume=bool(resume))
                    c.on_event = on_event
                if resume:   # the result set: the latest trial of each job (a re-run replaces a device_error)
                    trials = store.campaign_trials(campaign)
                    err.print(f"campaign {campaign}: resumed; {len(trials)} jobs in all", highlight=False)
                if against:
                    compare_against(c, trials, jobs, against, as_json, target, budget_s)
        except KeyboardInterrupt:
            err.print(f"interrupted: the finished trials of campaign {campaign} are stored; continue with\n"
                      f"  {resume_hint(campaign)}", highlight=False)
            return 130
        finally:
            signal.signal(signal.SIGTERM, old_term)
        if not as_json:
            rows = rep.with_ratios(trials, store.baselines())
            rep.print_table(rows, title=f"{title} (campaign {campaign})", console=out)
    return 0 if trials and all(t.status is Status.OK for t in trials) else 1


def compare_against(c: Campaign, trials: list[Trial], jobs: list[Job], against_by_device: dict[str, Kernel],
                     as_json: bool, target: float, budget_s: float) -> None:
    """After the campaign's trials: each kernel against `against` on each device and shape, by the
    one objective (Campaign.compare: paired interleaved time on real devices, modelled cycles on
    emulated ones)."""
    store = c.store
    kernels = {j.kernel.hash: j.kernel for j in jobs}
    base = {(t.device, t.shape): t for t in trials
            if t.device in against_by_device and t.source_hash == against_by_device[t.device].hash}
    for t in trials:
        against = against_by_device.get(t.device)
        if against is None or t.source_hash == against.hash:
            if as_json:
                print(json.dumps(t.to_json()), flush=True)
            continue
        b = base.get((t.device, t.shape))
        cmp, note = None, ""
        if b is None or t.status is not Status.OK or b.status is not Status.OK:
            note = f"no comparison: {t.kernel} is {t.status}" + (f", {against.label} is {b.status}" if b else "")
        else:
            if not t.emulated and t.emulation != "system":
                err.print(f"[dim]{t.device}: pairing {t.kernel} with {against.label} (interleaved) ...[/dim]",
                          highlight=False)
            run = c.compare(t.device, kernels[t.source_hash], against, t.shape, get_op(t.op, t.dtype),
                            trials=(t, b), target=target, budget_s=budget_s)
            cmp = run.ratio
            if run.status is not Status.OK:
                note = f"paired run: {run.status}: {run.error}"
            elif cmp is None:
                note = run.error or "no comparison"
            elif cmp.note:
                err.print(f"[yellow]{t.device}: {cmp.note}[/yellow]", highlight=False)
        if cmp is not None:
            cmp = stats.Ratio(cmp.ratio, cmp.ci95, cmp.p_value, cmp.metric, cmp.n, against.label, cmp.note)
            store.set_meta(t, paired=cmp.to_json()) if t.id is not None else t.meta.update(paired=cmp.to_json())
        if as_json:
            print(json.dumps({**t.to_json(), **(cmp.to_json() if cmp else {"against": against.label, "ratio": None,
                                                                            "note": note})}), flush=True)
        elif cmp is not None:
            out.print(f"{t.device} {t.kernel} vs {against.label}: {cmp.describe()}", highlight=False)
        else:
            out.print(f"[yellow]{t.device} {t.kernel} vs {against.label}: {note}[/yellow]", highlight=False)
