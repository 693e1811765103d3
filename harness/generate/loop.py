"""The generate loop: comprehend the hardware, ask the generator for candidates, verify and
measure each with run_trial, feed the results back, keep the best verified kernel, re-measure
it beside OpenBLAS, and write generated/<device>/<op>_<shape>_<dtype>/.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..baselines import BaselineUnavailable, baseline_kernel
from ..lab import Lab
from ..records import Status, Trial
from ..store import Store
from ..transport.base import get_transport
from ..trial import Kernel, MeasureOptions, run_trial
from .base import Candidate, Feedback, Generator, Task
from ..probe import ProbeError
from .hardware import HardwareFactors, comprehend

SEARCH_BUDGET = {"max_time_s": 0.5, "min_samples": 3, "max_samples": 10}
SEARCH_BUDGET_EMULATED = {"max_time_s": 1.0, "min_samples": 3, "max_samples": 5, "warmup": 1}
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
    folder: Path | None = None
    wall_s: float = 0.0
    error: str = ""
    trials: list[Trial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # shown at the end of `generate` and in meta.json

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


def ratio(t: Trial, base: Trial | None) -> tuple[float | None, str]:
    if not base or t.status is not Status.OK or base.status is not Status.OK or not t.summary or not base.summary:
        return None, ""
    if t.emulated and t.insns and base.insns:
        return base.insns / t.insns, "insns"
    return base.summary.median / t.summary.median, "time"


def feedback_from(round_: int, cand: Candidate, t: Trial, base: Trial | None) -> Feedback:
    fb = Feedback(round=round_, label=cand.label, status=t.status.value, params=cand.params,
                  source_hash=t.source_hash, trial_id=t.id)
    if t.status in (Status.COMPILE_ERROR, Status.LINK_ERROR):
        fb.message = f"The compiler rejected the kernel ({t.error.splitlines()[0] if t.error else t.status}):\n" + \
            trim_build_log(t.build_log)
    elif t.status is Status.WRONG_ANSWER:
        fb.message = f"Wrong result: {t.error}" + \
            (f" (max relative error {t.max_rel_err:.3g}, bound ~1e-5)" if t.max_rel_err is not None and
             str(t.max_rel_err) not in t.error else "")
    elif t.status in (Status.CRASH, Status.TIMEOUT):
        fb.message = f"The kernel {'crashed' if t.status is Status.CRASH else 'timed out'}: {t.error}"
    elif t.status is Status.REJECTED:
        fb.message = f"Rejected by the symbol policy: {t.error}\n{trim_build_log(t.build_log)}"
    elif t.status is Status.OK:
        r, basis = ratio(t, base)
        fb.gflops, fb.insns, fb.vs_openblas, fb.basis = t.gflops, t.insns, r, basis
        fb.median_s = t.summary.median if t.summary else None
        parts = [f"Verified (max relative error {t.max_rel_err:.2g}).",
                 f"Median {fb.median_s * 1e3:.3f} ms per call = {t.gflops:.2f} GFLOP/s"
                 + (" (emulated: wall time says little)" if t.emulated else "")]
        if t.insns:
            parts.append(f"Dynamic instructions per call: {t.insns:,}"
                         + (f" (OpenBLAS: {base.insns:,})" if base and base.insns else ""))
        if base and base.summary:
            parts.append(f"OpenBLAS: {base.gflops:.2f} GFLOP/s")
        if r:
            parts.append(f"Ratio to OpenBLAS: {r:.2f}x by {'instruction count' if basis == 'insns' else 'time'} "
                         "(>1 is better than OpenBLAS)")
        fb.message = "\n".join(parts)
    else:
        fb.message = f"{t.status}: {t.error}"
    return fb


def _better(fb: Feedback, best: Feedback | None) -> bool:
    if not fb.ok:
        return False
    if best is None:
        return True
    if fb.insns and best.insns:
        return fb.insns < best.insns
    return (fb.median_s or float("inf")) < (best.median_s or float("inf"))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_on_device(lab: Lab, task: Task, device_name: str, generator: Generator, store: Store, *,
                       rounds: int, campaign: str, search_overrides: dict | None = None,
                       final_overrides: dict | None = None, on_event: Callable[[str], None] | None = None,
                       write: bool = True) -> DeviceResult:
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
    say(f"{device_name}: {hw.primitive_set} ({hw.vector_bits} bit vectors, {hw.vregs} registers) via {hw.source}")
    tc = lab.toolchain(device)
    search = dict(SEARCH_BUDGET_EMULATED if device.emulated else SEARCH_BUDGET)
    search.update(search_overrides or {})
    sopts = MeasureOptions.for_device(device, **search)
    fopts = MeasureOptions.for_device(device, **(final_overrides or {}))
    shape = task.shape
    try:
        transport = get_transport(device, lab.ws)
    except Exception as e:
        res.error = f"no transport for {device_name}: {e}"
        return res
    with transport:
        def trial(kernel: Kernel, opts: MeasureOptions) -> Trial:
            t = run_trial(lab.ws, device, tc, transport, kernel, shape, opts, campaign=campaign)
            store.add(t)
            res.trials.append(t)
            return t

        base = None
        try:
            ob = baseline_kernel(lab.ws, "openblas", device.arch)
            base = trial(ob, sopts)
            say(f"{device_name}: openblas {base.status}" + (f" {base.gflops:.2f} GFLOP/s" if base.gflops else "")
                + (f", {base.insns:,} insns" if base.insns else ""))
        except BaselineUnavailable as e:
            ob = None
            say(f"{device_name}: no OpenBLAS baseline ({e})")

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
            k = Kernel(label=f"gen:{cand.label or f'round{r}'}", source=cand.source.encode(), name="kernel.c")
            t = trial(k, sopts)
            fb = feedback_from(r, cand, t, base)
            if cand.notes:
                fb.message = f"Note: {cand.notes}\n{fb.message}"
            res.history.append(fb)
            say(f"{device_name}: round {r} {cand.label}: {t.status}" +
                (f" {t.gflops:.2f} GFLOP/s" if t.gflops else "") + (f", {t.insns:,} insns" if t.insns else "") +
                (f", {fb.vs_openblas:.2f}x OpenBLAS ({fb.basis})" if fb.vs_openblas else "") +
                ("" if t.status is Status.OK else f": {t.error.splitlines()[0][:150] if t.error else ''}"))
            if _better(fb, best_fb):
                best_fb, best_cand = fb, cand

        if best_cand is None:
            res.error = res.error or "no candidate passed verification"
            res.wall_s = time.monotonic() - t0
            return res
        res.best = best_cand
        # re-measure the best verified candidate and OpenBLAS with the final budget
        say(f"{device_name}: re-measuring the best candidate ({best_cand.label}) and OpenBLAS")
        final = trial(Kernel(label="generated", source=best_cand.source.encode(), name="kernel.c"), fopts)
        res.final = final
        if ob is not None:
            res.openblas = trial(ob, fopts)
        res.vs_openblas, res.basis = ratio(final, res.openblas)
    res.wall_s = time.monotonic() - t0
    if write and res.ok:
        res.folder = write_result(lab, res, generator)
    return res


def write_result(lab: Lab, res: DeviceResult, generator: Generator) -> Path:
    task, cand, final = res.task, res.best, res.final
    folder = lab.ws.generated / res.device / task.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.c").write_text(cand.source)
    params = {k: v for k, v in cand.params.items() if not k.startswith("_")}
    from ..tune.space import ParamSpace, SpaceError
    try:
        space = ParamSpace.from_source(cand.source)
        if space:
            params = {"values": {**space.defaults, **params}, "space": space.to_json()}
    except SpaceError as e:
        res.warnings.append(f"{res.device}: params.json has no parameter space: the kernel's "
                            f"tensorop-params block is invalid: {e}")
    (folder / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
    ob = res.openblas
    meta = {
        "device": res.device,
        "arch": final.arch,
        "emulated": final.emulated,
        "toolchain": final.toolchain,
        "toolchain_version": final.toolchain_version,
        "cflags": list(final.cflags),
        "op": task.op, "shape": list(task.shape), "dtype": task.dtype,
        **generator.describe(),
        "prompt": task.prompt,
        "prompt_sha256": sha(task.prompt),
        "request_hashes": list(getattr(generator, "request_hashes", [])),
        "session": getattr(generator, "session_id", None),
        "replay_mismatches": getattr(getattr(generator, "client", None), "mismatches", None),
        "primitive_set": res.hardware.primitive_set if res.hardware else None,
        "hardware": res.hardware.to_json() if res.hardware else None,
        "candidate": cand.label,
        "candidate_notes": cand.notes,
        "source_sha256": sha(cand.source),
        "measured": final.to_json(),
        "openblas": ob.to_json() if ob else None,
        "vs_openblas": res.vs_openblas,
        "ratio_basis": res.basis,
        "rounds": [{"round": f.round, "label": f.label, "status": f.status, "gflops": f.gflops, "insns": f.insns,
                    "vs_openblas": f.vs_openblas, "trial_id": f.trial_id} for f in res.history],
        "warnings": res.warnings,
        "wall_s": round(res.wall_s, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return folder
