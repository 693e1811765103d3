"""One trial: build -> gate (object file) -> check (correctness) -> measure -> one stored row.

Measuring depends on the device (docs/ARCHITECTURE.md, The one objective):
- real devices: a calibrated, verified timing run (every timed call checked, one sample checked
  in full), its samples summarised by harness.core.stats; the cores the run used are measured;
- emulated devices: ONE verified call under the QEMU plugin, whose executed blocks give the
  modelled cycles (harness.measure.model); no timing repetitions (wall time under QEMU is the
  emulator's), the instruction count kept as a secondary figure.
A result beyond the device's physical peak is `suspicious` (harness.measure.limits.peak_check).

Every failure becomes a status on the Trial (records.Status); nothing a kernel does can stop the
run for other kernels or devices, and a bug of ours is `internal_error`.
"""
from __future__ import annotations

import math
import secrets
import traceback
from dataclasses import asdict

from harness.measure import check
from harness.core import stats
from harness.backends import backend_for
from harness.backends.cpu import CpuBackend
from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.ops import Op, default_op
from harness.core.records import Artifact, BuildResult, Kernel, Status, Trial
from harness.backends.cpu.program_gate import executable_segments
from harness.transport.base import Transport
from harness.core.workspace import Workspace
from harness.core.measure_options import MeasureOptions, UnknownOption  # noqa: F401 (UnknownOption is re-exported)
from harness.core import channel
from harness.measure import limits
from harness.measure.model.outcome import modelled
from harness.measure.model.plugin import plugin_options, profile_problem

CPU = CpuBackend()


def build_kernel(ws: Workspace, toolchain: Toolchain, kernel: Kernel, extra_cflags: tuple[str, ...] = (),
                 partner: Kernel | None = None, op: Op | None = None, threads: int = 1,
                 device: Device | None = None) -> BuildResult:
    """The device's backend builds the kernel (the CPU backend when no device is named);
    threads > 1: the task allows that many threads (device.threads_allowed)."""
    backend = backend_for(device) if device is not None else CPU
    return backend.build(ws, device, toolchain, kernel, backend.op(op or default_op()), partner=partner,
                         extra_cflags=extra_cflags, threads=threads)


def new_trial(device: Device, kernel: Kernel, shape, campaign: str = "", opts: MeasureOptions | None = None,
              op: Op | None = None) -> Trial:
    op = op or default_op()
    return Trial(device=device.name, op=op.name, shape=tuple(shape), dtype=op.dtype, kernel=kernel.label,
                 source_hash=kernel.hash, status=Status.INTERNAL_ERROR, arch=device.arch, emulated=device.emulated,
                 emulation=device.emulation,
                 transport=device.transport, campaign=campaign, flushed=bool(opts and opts.flush),
                 meta={"measure": asdict(opts) if opts else None, "kernel_file": kernel.name, "env": dict(device.run_env),
                       **({"trusted_rules": list(kernel.relax)} if kernel.relax else {})})


def run_trial(ws: Workspace, device: Device, toolchain: Toolchain | None, transport: Transport, kernel: Kernel,
              shape: tuple[int, ...], opts: MeasureOptions, *, campaign: str = "",
              extra_cflags: tuple[str, ...] = (), prebuilt: BuildResult | None = None,
              op: Op | None = None) -> Trial:
    op = backend_for(device).op(op or default_op())
    trial = new_trial(device, kernel, shape, campaign, opts, op)
    try:
        if toolchain is None:
            trial.status = Status.DEVICE_ERROR
            trial.error = f"device {device.name}: toolchain {device.toolchain!r} is not defined in toolchains/"
            return trial
        trial.toolchain = toolchain.name
        b = prebuilt or build_kernel(ws, toolchain, kernel, extra_cflags, op=op,
                                     threads=device.threads_allowed, device=device)
        trial.build_log = b.log
        if b.status is not Status.OK:
            trial.status, trial.error = b.status, b.error
            return trial
        art = b.artifact
        trial.toolchain_version, trial.cflags = art.toolchain_version, art.cflags
        return _check_and_measure(ws, device, transport, art, shape, opts, trial, op)
    except Exception as e:  # a bug of ours must not stop the campaign; keep the evidence
        trial.status = Status.INTERNAL_ERROR
        trial.error = f"internal error: {e!r}\n{traceback.format_exc(limit=5)}"
        return trial


def _check_and_measure(ws: Workspace, device: Device, transport: Transport, art: Artifact, shape,
                       opts: MeasureOptions, trial: Trial, op: Op) -> Trial:
    seeds = [secrets.randbits(62) for _ in range(op.seeds_needed + 1)]
    cases = op.check_cases(shape, seeds[:-1])
    t_check, t_time = limits.timeouts(device, shape, opts, sum(op.flops(op.case_shape(c)) for c in cases), op)
    trial.meta["seeds"] = seeds

    # 1. correctness gate: every case, fresh seeds; a kernel that fails is never timed
    result, run, failure = check.gate(transport, art, device, shape, seeds[:-1], t_check, op=op)
    trial.command = run.command if run else ()
    trial.max_rel_err = result.max_rel_err
    if not result.ok:
        trial.status, trial.error = failure or Status.WRONG_ANSWER, result.detail
        return trial

    # 2. measure: verified timed calls (real devices) or one profiled call (emulated devices)
    tcase = op.timing_case(shape, seeds[-1])
    tol = op.timing_tolerance(tcase)
    if device.emulated:
        if art.code_map is None:
            trial.status = Status.DEVICE_ERROR
            trial.error = ("profiled call: the linked program has no code map (built position-independent, or "
                           "without the driver's .tensorop_driver section): the cycle model cannot run")
            return trial
        req = op.request("profile", [tcase], tol=tol)
        run = transport.run(art, [], timeout_s=t_time, stdin=req, fetch=["pick.bin"],
                            plugin=plugin_options(art, device))
    else:
        req = op.request("time", [tcase], tol=tol, threads=device.threads_allowed,
                         pick=secrets.randbelow(opts.max_samples),
                           **opts.request_options())
        run = transport.run(art, [], timeout_s=t_time, stdin=req, fetch=["pick.bin"])
    trial.command = run.command
    phase = "profiled call" if device.emulated else "timing run"
    failure = check.run_failure(run, device, phase)
    if failure:
        trial.status, trial.error = failure
        return trial
    recs = channel.read_channel(run, want_plugin=device.emulated)
    if recs.error:
        trial.status, trial.error = Status.REJECTED, f"{phase}: {recs.error}"
        return trial
    try:
        return _judge(ws, device, art, run, recs, tcase, shape, result, phase, trial, op)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as e:
        # a record of the right shape holding values of the wrong kinds: the run broke the protocol
        trial.status, trial.error = Status.REJECTED, f"{phase}: the result record is malformed ({type(e).__name__}: {e})"
        return trial


def _judge(ws: Workspace, device: Device, art: Artifact, run, recs: channel.Records, tcase, shape, result,
           phase: str, trial: Trial, op: Op) -> Trial:
    """The measuring run's records -> the trial's status and figures."""
    crashed = channel.worker_crash(recs.driver, phase)
    if crashed:
        trial.status, trial.error = Status.CRASH, crashed
        return trial
    note = channel.lib_note(recs.driver)
    if note:                      # a library baseline: which routine ran, on which ISA path
        trial.meta["library"] = note
        if note.get("error"):
            trial.status, trial.error = Status.DEVICE_ERROR, f"{phase}: baseline library: {note['error']}"
            return trial
    verdict = check.timed_verdict(recs.driver, tcase, run.files.get("pick.bin"), profile=device.emulated, op=op)
    if verdict.max_rel_err is not None and math.isfinite(verdict.max_rel_err):
        trial.max_rel_err = max(trial.max_rel_err or 0.0, verdict.max_rel_err)
    if not verdict.ok:
        trial.status, trial.error = Status.WRONG_ANSWER, f"{phase}: {verdict.detail}"
        trial.max_rel_err = verdict.max_rel_err if verdict.max_rel_err is not None else math.inf
        return trial
    trial.meta["check_cases"] = result.cases + 1
    if device.emulated:
        return _modelled(ws, device, art, run, recs, shape, trial, op)
    return _timed(device, run, recs.driver, shape, trial, op)


def _timed(device: Device, run, rec: dict, shape, trial: Trial, op: Op) -> Trial:
    samples = rec.get("samples")
    if not isinstance(samples, list) or not samples or not all(isinstance(x, (int, float)) for x in samples):
        trial.status, trial.error = Status.REJECTED, "timing run: the record holds no valid samples"
        return trial
    trial.samples = tuple(float(x) for x in samples)
    if isinstance(rec.get("gpu"), dict):     # a CUDA driver's GPU (the peak check's SM count and clock)
        trial.meta["gpu"] = rec["gpu"]
    trial.inner_loops = int(rec.get("inner_loops", 0))
    trial.flushed = bool(rec.get("flushed", False))
    trial.summary = stats.summarize(trial.samples)
    trial.gflops = op.flops(shape) / trial.summary.median / 1e9 if trial.summary.median > 0 else math.inf
    wall, cpu = float(rec.get("wall_s") or rec.get("sampling_s") or 0), float(rec.get("cpu_s") or 0)
    cores = cpu / wall if wall > 0 else 0.0
    trial.meta.update({"stop": rec.get("stop"), "sampling_s": rec.get("sampling_s"), "cpu_s": cpu,
                       "cores_used": round(cores, 3), "run_wall_s": run.wall_s, "timed_calls": rec.get("calls"),
                       "handshake_s": rec.get("handshake_s"), "seccomp": rec.get("seccomp")})
    allowed = device.threads_allowed
    if cores > allowed + 0.3:
        trial.status = Status.REJECTED
        trial.error = (f"timing run: used {cores:.2f} cores (CPU time {cpu:.3f} s over {wall:.3f} s wall); "
                       f"the task allows {allowed}")
        return trial
    return _limits(device, trial)


def _modelled(ws: Workspace, device: Device, art: Artifact, run, recs: channel.Records, shape, trial: Trial,
              op: Op) -> Trial:
    plugin = recs.plugin
    why = profile_problem(plugin)
    if why:
        trial.status, trial.error = Status.REJECTED, f"profiled call: {why}"
        return trial
    trial.insns = int(plugin.get("insns") or 0) or None
    trial.meta["run_wall_s"] = run.wall_s
    model = modelled(ws, device, run.profile, plugin, executable_segments(art.executable))
    trial.meta["model"] = model.meta
    if model.rejected:
        trial.status, trial.error = Status.REJECTED, f"profiled call: {model.error}"
        return trial
    if model.error:
        trial.status, trial.error = Status.DEVICE_ERROR, f"cycle model: {model.error}"
        return trial
    trial.cycles, trial.model = model.cycles, model.name
    if trial.cycles:
        trial.gflops = op.flops(shape) / trial.cycles * device.nominal_clock_ghz
    return _limits(device, trial)


def _limits(device: Device, trial: Trial) -> Trial:
    over = limits.peak_check(device, trial)
    if over:
        trial.status, trial.error = Status.SUSPICIOUS, over
    else:
        trial.status = Status.OK
    return trial
