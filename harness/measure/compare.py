"""The one objective: how fast is a trial, and is it faster than another (docs/ARCHITECTURE.md).

Every "faster" in tensorop (bench --against, generate, the tuners, report, the bench suite) comes
from `compare` here, called by the campaign (harness/campaign/scheduler.py Campaign.compare),
which holds the device's lane and lock:
- real devices: time. A trial's own figure is its median seconds per call; comparing two
  kernels is a *paired* measurement (`paired`): both linked into one driver, timed interleaved
  sample by sample (alternating which goes first, same fresh inputs, one pinned core), the ratio
  of medians with a paired bootstrap 95% CI and a Mann-Whitney p (harness/core/stats.py). An
  unpaired ratio of two trials measured at different times is never reported.
- emulated devices: modelled cycles per call (QEMU plugin profile + llvm-mca core model);
  deterministic, so a ratio of cycles needs no CI. An instruction count is never a speed.
- boards in QEMU system mode (`emulated: system`): their wall times are the emulator's (TCG), not
  the board's, so no speed ratio is made at all: `compare` says why (`SYSTEM_EMULATED`); a
  trial's own time stays a figure for choosing among one kernel's points (`cost`), labelled emulated.
`cost(trial)` is a single trial's figure (lower is faster) for the tuners.
The physical limits (a figure beyond the device's peak is `suspicious`) are harness/measure/limits.py.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field

from harness.backends import backend_for
from harness.config.devices import Device
from harness.core import channel
from harness.core.measure_options import MeasureOptions
from harness.core.records import Kernel, Status, Trial
from harness.core.stats import Ratio, paired_ratio
from harness.measure import check
from harness.measure.runner import build_kernel
from harness.ops import Op, default_op
from harness.ops.inputs import splitmix_one


def metric(trial: Trial) -> str:
    """"modelled_cycles" on emulated devices, "time" on real ones."""
    return "modelled_cycles" if trial.emulated else "time"


def cost(trial: Trial) -> float | None:
    """Lower is faster. None when the trial has no trusted figure (not ok, or no model)."""
    if trial.status is not Status.OK:
        return None
    if trial.emulated:
        return trial.cycles
    return trial.summary.median if trial.summary else None


def modelled_ratio(a: Trial, b: Trial) -> Ratio | None:
    if not (a.cycles and b.cycles):
        return None
    return Ratio(b.cycles / a.cycles, None, None, "modelled_cycles", 1, b.kernel)


def system_emulated_note(device: Device) -> str:
    """Why a board in QEMU system mode gets no speed comparison (printed where a ratio would be)."""
    return (f"no speed comparison: {device.name} runs in QEMU system mode (TCG), so its wall times are "
            f"the emulator's, not the board's")


@dataclass
class Comparison:
    """The verdict of one kernel against another: the ratio (> 1: A is faster) or, when none could
    be made, the status and why. On real devices with the paired run's raw samples."""
    ratio: Ratio | None
    status: Status
    error: str = ""
    samples_a: list[float] = field(default_factory=list)
    samples_b: list[float] = field(default_factory=list)
    rounds: int = 0
    wall_s: float = 0.0
    reached: bool = False
    library_a: dict = field(default_factory=dict)   # a library baseline's note (routine, isa): channel.lib_note
    library_b: dict = field(default_factory=dict)


def paired(ws, device: Device, toolchain, transport, a, b, shape, *, target: float = 0.02,
           budget_s: float = 60.0, round_samples: int = 20, round_time_s: float = 2.0,
           max_rounds: int = 40, opts=None, op: Op | None = None) -> Comparison:
    """Time kernel `a` against kernel `b` (harness.measure.runner.Kernel) interleaved in one driver until
    the ratio's 95% CI half-width is at most `target` of the ratio, or the budget is spent.
    Both kernels must already have passed the correctness gate (their own trials)."""
    started = time.monotonic()
    op = backend_for(device).op(op or default_op())
    b_res = build_kernel(ws, toolchain, a, partner=b, op=op, threads=device.threads_allowed, device=device)
    if b_res.status is not Status.OK:
        return Comparison(None, b_res.status, f"paired build: {b_res.error}")
    opts = opts or MeasureOptions.for_device(device)
    out = Comparison(None, Status.OK)
    base = secrets.randbits(62)
    while out.rounds < max_rounds:
        case = op.timing_case(shape, splitmix_one(base, 9, out.rounds))
        tol = op.timing_tolerance(case)
        req = op.request("pair", [case], tol=tol, threads=device.threads_allowed, warmup=opts.warmup,
                         min_sample_s=opts.min_sample_s,
                           max_sets=opts.max_sets, min_samples=3, max_samples=round_samples,
                           max_time_s=round_time_s)
        per_call = (op.flops(shape) + 60 * op.io_elements(shape)) / (device.slow_gflops * 1e9)
        run = transport.run(b_res.artifact, [], timeout_s=device.timeout_s + 4 * round_time_s + 60 * per_call,
                            stdin=req)
        failure = check.run_failure(run, device, "paired run")
        if failure:
            out.status, out.error = failure
            return out
        recs = channel.read_channel(run, want_plugin=False)
        if recs.error:
            out.status, out.error = Status.REJECTED, f"paired run: {recs.error}"
            return out
        rec = recs.driver
        crashed = channel.worker_crash(rec, "paired run")
        if crashed:
            out.status, out.error = Status.CRASH, crashed
            return out
        if rec.get("verified") is not True:
            f = rec.get("failed") or {}
            who = a.label if f.get("kernel") == "a" else b.label
            out.status = Status.WRONG_ANSWER
            out.error = f"paired run: {who}: call {f.get('call')} of sample {f.get('sample')} was wrong: {f.get('why')}"
            return out
        out.library_a, out.library_b = channel.lib_note(rec, "lib"), channel.lib_note(rec, "lib_b")
        for who, note in ((a.label, out.library_a), (b.label, out.library_b)):
            if note.get("error"):
                out.status, out.error = Status.DEVICE_ERROR, f"paired run: {who}: baseline library: {note['error']}"
                return out
        out.samples_a += [float(x) for x in rec.get("samples_a", [])]
        out.samples_b += [float(x) for x in rec.get("samples_b", [])]
        out.rounds += 1
        out.ratio = paired_ratio(out.samples_a, out.samples_b, against=b.label)
        r = out.ratio
        if r.ci95 and (r.ci95[1] - r.ci95[0]) / 2 <= target * r.ratio and out.rounds >= 2:
            out.reached = True
            break
        if time.monotonic() - started > budget_s:
            break
    out.wall_s = time.monotonic() - started
    if out.ratio is not None and not out.reached:
        half = (out.ratio.ci95[1] - out.ratio.ci95[0]) / 2 / out.ratio.ratio if out.ratio.ci95 else math.inf
        out.ratio = Ratio(out.ratio.ratio, out.ratio.ci95, out.ratio.p_value, "time", out.ratio.n, b.label,
                          f"the machine is too noisy for a +-{100 * target:g}% CI within the budget: "
                          f"reached +-{100 * half:.1f}%")
    return out


def compare(ws, device: Device, toolchain, transport, a: Kernel, a_trial: Trial | None, b: Kernel,
            b_trial: Trial | None, shape, *, op: Op | None = None, target: float = 0.02, budget_s: float = 60.0,
            opts: MeasureOptions | None = None) -> Comparison:
    """THE answer to "is A faster than B" (docs/ARCHITECTURE.md, The one objective), for every caller:
    on an emulated device the ratio of the two trials' modelled cycles; on a real device a paired,
    interleaved run of both kernels (`paired`). Both kernels must have passed their own trials
    (a_trial and b_trial, when given, must be ok)."""
    for k, t in ((a, a_trial), (b, b_trial)):
        if t is not None and t.status is not Status.OK:
            return Comparison(None, t.status, f"no comparison: {k.label} is {t.status}")
    if device.system_emulated:
        return Comparison(None, Status.OK, system_emulated_note(device))
    if device.emulated:
        if a_trial is None or b_trial is None:
            return Comparison(None, Status.INTERNAL_ERROR, "modelled cycles compare two measured trials")
        r = modelled_ratio(a_trial, b_trial)
        return Comparison(r, Status.OK) if r else Comparison(None, Status.OK, "no modelled cycles")
    return paired(ws, device, toolchain, transport, a, b, shape, target=target, budget_s=budget_s, opts=opts, op=op)
