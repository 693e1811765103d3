"""`tensorop bench-suite` (`make bench`): the one-command benchmark of issue 12.

The generated kernels are what a user of `tensorop generate` gets. Each one comes from the
generate pipeline (harness/tune/pipeline.py generate_and_tune: the expert generator's candidates, each
verified and compared with OpenBLAS by the one objective, the best written to a kernel folder
under generated/bench-suite/, then generate's tuning stage (harness/tune/session.py), MCTS
on the one objective) at a stated budget: `--tune-budget N` MCTS trials (default TUNE_BUDGET;
generate's own rounds, EXPERT_ROUNDS candidates, before it). `--tune-budget 0` measures the
expert generator's first plan point instead, untuned, as the suite did before tuning was in it.
The kernel is then put through the full trial (build, object gate, correctness gate,
measurement) at every shape it is used for, beside OpenBLAS 0.3.34 and the naive loop.

Tuning shapes. One generate + tune run per kernel, at a representative shape, and the tuned
kernel is reused for the kernel's shapes (one run per shape would be ~40 pipeline runs of 1-2 min
each: over the 30-minute budget on a 2-vCPU box):
- host and host-2t GEMM, two kernels each: "M > 16" (square 256-2048 and 128x4096x4096) tuned at
  1024^3, the middle of the square range; "M <= 16" (1 and 16 tokens against 4096x4096,
  4096->11008, 11008->4096) tuned at 16x4096x4096, because those shapes run the expert kernel's
  small-M path (M <= SM = 16 rows stream whole B rows), whose best parameters differ;
- emulated GEMM: one kernel per device tuned at 256^3 (modelled cycles are deterministic, so a
  few trials decide; a trial at 512^3 costs 8x as much, ~35 s per call on arm64-qemu's SVE);
- conv2d: one kernel per device tuned at the paper's 64x56x56 -> 64, 3x3 layer (batch as run).

Shapes:
- host (1 thread): GEMM square 256-2048 and LLM-inference shapes (SQUARE, LLM); conv2d: the
  paper-conv layers (harness.ops.suites) with the batch scaled by CONV_HOST_SCALE (64 -> 4, 32 -> 2);
- host low precision (LOWP): bf16 (f32 accumulation) and int8 (int32) GEMM at 1024^3, one
  generated kernel per dtype, against MKL's own cblas_gemm_bf16bf16f32 / cblas_gemm_s8u8s32 and
  against OpenBLAS SGEMM on the inputs widened to f32 (baselines/*_gemm_lowp.c);
- host-2t (kernel and OpenBLAS both with 2 threads), timed after the emulated devices so QEMU
  does not hold a core: THREADED_SHAPES;
- rv64-qemu and a76-qemu: GEMM 256^3, 512^3 and 1024^3 (a 1024^3 row, both trials, takes ~30 s
  there); rv64-qemu-vlen128 and arm64-qemu: 256^3 and 512^3 only (EMU_NO_1024), because QEMU
  itself is slow on their code, an emulator artefact: a 1024^3 row took 276 s on
  rv64-qemu-vlen128 (the generated kernel's profiled call alone 130-140 s under QEMU: RVV at
  LMUL 8 on VLEN 128, against 9 s on VLEN 256) and ~9 min on arm64-qemu (SVE 256: OpenBLAS's
  trial alone 275 s). Measured on this 2-vCPU box; with them the emulated lane would outlast the
  host lane by ~12 min and the suite its 30 minutes;
- rv64-qemu conv2d: all seven paper-conv layers at batch 1 (CONV_EMU_LAYERS; ~3 min of trials).
The naive loop runs where one call is short (NAIVE_MAX_FLOPS, NAIVE_MAX_FLOPS_EMU).

Comparisons use the one objective:
- host: paired time (Campaign.compare: both kernels linked into one driver, timed interleaved), ratio of
  medians with a bootstrap 95% CI; GFLOP/s figures beside them are each kernel's own trial
  (indicative: unpaired, on a shared 2-vCPU VM); conv2d's OpenBLAS is im2col + OpenBLAS SGEMM
  (baselines/openblas_conv2d.c); conv2d on real x86-64 devices also against oneDNN
  (baselines/onednn_conv2d.c: Debian's libdnnl, reorders to its layouts inside the call);
  GEMM on real x86-64 devices also against oneMKL (baselines/mkl_gemm.c:
  SGEMM, SGEMV at M = 1; its AVX-512/AMX path checked, harness/backends/cpu/baselines.py), paired the
  same way: every ratio is a paired comparison with the generated kernel, never OpenBLAS against MKL;
- emulated devices: modelled cycles of one call (QEMU block profile + llvm-mca core model).
Plus a roofline for the host from two micro-benchmarks (peak FMA, streaming read bandwidth)
built with the host's toolchain and run through the device's sandboxed transport.

Wall time on this 2-vCPU box (measured per device, --budget 5 on the host, extrapolated to the
default 20 s): the host lane ~11-15 min (three generate + tune runs ~1-1.5 min each, 17 rows)
beside the emulated lane in a child process ~13.5 min (rv64-qemu 5.5, rv64-qemu-vlen128 2.7,
arm64-qemu 3.3, a76-qemu 2 min), then host-2t ~6.5 min: about 20-22 min in all. `--quick` (the
test's smoke run): ~1 min, each kernel through generate (2 candidates, short paired budgets)
and 3 MCTS trials.

Writes results/bench.md, results/bench.json, results/bench.png and results/roofline.png.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.apps.bench_suite.micro import roofline_micro
from harness.apps.bench_suite.plan import (
    EMU_NO_1024, EMULATED, NAIVE_MAX_FLOPS, NAIVE_MAX_FLOPS_EMU, QUICK_EMU, QUICK_ROUNDS, QUICK_TUNE_BUDGET, THREADED,
    TUNE_BUDGET, Budgets, KernelPlan, Row, SuiteKernel, _fmt_shape, before_kernel, device_plan, pipeline_kernel,
    untuned_kernel,
)
from harness.apps.bench_suite.render import _ratio_text, charts, to_markdown, tuning_note
from harness.backends.base import BaselineUnavailable
from harness.backends.cpu.baselines import MKL_VERSION, baseline_kernel
from harness.campaign.scheduler import Campaign, Job, new_campaign_id
from harness.campaign.store import Store
from harness.config.lab import Lab
from harness.core.workspace import Workspace
from harness.core.records import Status

VENDORS = ("openblas", "mkl", "onednn")     # library baselines: paired with the full budget
from harness.tune.pipeline import EXPERT_ROUNDS
from harness.ops import get_op


# ---- measuring -----------------------------------------------------------------------------
def _record(row: Row, name: str, t) -> None:
    row.status[name] = t.status.value + (f": {t.error[:160]}" if t.status is not Status.OK else "")
    if t.status is Status.OK:
        if t.gflops:
            row.gflops[name] = round(t.gflops, 2)
        if t.cycles:
            row.cycles[name] = t.cycles


def measure_kernel(c: Campaign, device, sk: SuiteKernel, shapes, *, budget_s: float, others_for,
                   overrides: dict, log=print) -> list[Row]:
    """The kernel's full trial at each shape beside the other kernels (others_for(shape): name ->
    Kernel), then each comparison by the one objective (Campaign.compare)."""
    op = get_op(sk.op, sk.dtype)
    metric = "modelled_cycles" if device.emulated else "time"
    rows = []
    for shape in shapes:
        t0 = time.monotonic()
        row = Row(device.name, shape, metric, sk.label, op=sk.op, threads=device.threads_allowed, dtype=sk.dtype)
        others = others_for(shape)
        trials = c.run([Job(k, device.name, shape, op) for k in (sk.kernel, *others.values())], overrides=overrides)
        tg, tos = trials[0], dict(zip(others, trials[1:]))
        _record(row, "generated", tg)
        for name, t in tos.items():
            _record(row, name, t)
        for name, k in others.items():
            tb = tos[name]
            if tg.status is not Status.OK or tb.status is not Status.OK:
                continue
            run = c.compare(device.name, sk.kernel, k, shape, op, trials=(tg, tb), target=0.02,
                            budget_s=budget_s if name in VENDORS else budget_s / 2)
            r = run.ratio
            if run.status is not Status.OK:
                row.status[f"paired-{name}"] = f"{run.status.value}: {run.error[:160]}"
                r = None
            if r is not None:
                row.vs[name] = r.to_json()
        rows.append(row)
        log(f"{device.name} {op.name} {op.shape_text(shape)}: " + ", ".join(
            f"vs {n} {_ratio_text(v)}" for n, v in row.vs.items()) + f"  ({time.monotonic() - t0:.0f} s)")
    return rows


def measure_device(lab, device, plans: list[KernelPlan], *, budgets: Budgets, with_before: bool,
                   naive_max: float, devices_file=None, log=print) -> tuple[list[Row], list[SuiteKernel]]:
    """Each plan's kernel (generate + tuning, or the untuned first point with budgets.tune == 0)
    measured at its shapes beside OpenBLAS, MKL (GEMM on real x86-64 devices, where set up), the naive
    loop (short calls only) and, for GEMM with --before, the kernel before issue 12."""
    rows, kernels = [], []
    overrides = {} if device.emulated else {"max_time_s": 2.0, "max_samples": 30}
    for plan in plans:
        op = get_op(plan.op, plan.dtype)
        if budgets.tune > 0:
            sk = pipeline_kernel(lab, device, plan, tune_budget=budgets.tune, rounds=budgets.rounds,
                                 quick=budgets.quick, devices_file=devices_file, log=log)
        else:
            sk = untuned_kernel(lab, device, plan)
        kernels.append(sk)
        metric = "modelled_cycles" if device.emulated else "time"
        if sk.kernel is None:
            log(f"{device.name}: {plan.op} for {plan.role}: {sk.error}")
            rows += [Row(device.name, s, metric, sk.label, status={"generated": sk.error[:200]}, op=plan.op,
                         dtype=plan.dtype) for s in plan.shapes]
            continue
        base = {"openblas": baseline_kernel(lab.ws, "openblas", device.arch, op),
                "naive": baseline_kernel(lab.ws, "naive", device.arch, op)}
        # the vendor library where there is one (MKL: GEMM, oneDNN: conv2d, on real x86-64 devices),
        # with the task's threads
        for vendor in ("mkl", "onednn"):
            try:
                base[vendor] = baseline_kernel(lab.ws, vendor, device.arch, op, device.threads_allowed,
                                               device.emulated)
            except BaselineUnavailable as e:
                if vendor in op.baselines and not device.emulated:
                    log(f"{device.name}: {plan.op}: no {vendor} column: {e}")
        bk = before_kernel(device.name) if with_before and plan.op == "gemm" and plan.dtype == "f32" else None

        def others_for(shape, base=base, bk=bk, op=op):
            o = {"openblas": base["openblas"], **{v: base[v] for v in ("mkl", "onednn") if v in base}}
            if op.flops(shape) <= naive_max:
                o["naive"] = base["naive"]
            if bk is not None:
                o["before"] = bk
            return o
        with Store(lab.ws.database) as store, Campaign(lab, store, campaign="bench-suite-" + new_campaign_id()) as c:
            rows += measure_kernel(c, device, sk, plan.shapes, budget_s=budgets.pair_s, others_for=others_for,
                                   overrides=overrides, log=log)
    return rows, kernels


# ---- the command ---------------------------------------------------------------------------
def _emulated_main(root: str, devices_file, names: list[str], quick: bool, budgets: Budgets, with_before: bool,
                   out_dir: str, logs) -> None:
    """The emulated devices' half of the suite in a process of its own (see _emulated_child)."""
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    lab = Lab.load(Workspace(Path(root)), devices_file=devices_file)
    run_suite(lab, quick=quick, devices=names, budget_s=budgets.pair_s, with_before=with_before,
              out_dir=Path(out_dir), tune_budget=budgets.tune, log=logs.put, child=True)


def _emulated_child(lab, names: list[str], *, quick: bool, budgets: Budgets, with_before: bool,
                    devices_file, log) -> tuple[list[Row], list[SuiteKernel], dict]:
    """The emulated devices in a child process (on the second core while the host is timed): two
    threads of one process computing NumPy references at once (OpenBLAS underneath, spinning
    threads) slow each other down ~100x. The child runs run_suite itself (multiprocessing, spawn)
    and writes its rows where this process reads them; its log lines come back on a queue."""
    ctx = multiprocessing.get_context("spawn")
    logs = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="bench-emu-", dir=lab.ws.scratch) as d:
        proc = ctx.Process(target=_emulated_main, args=(str(lab.ws.root), devices_file, names, quick, budgets,
                                                         with_before, d, logs), daemon=True)
        proc.start()
        while proc.is_alive() or not logs.empty():
            try:
                log(logs.get(timeout=0.5))
            except queue.Empty:
                continue
        proc.join()
        f = Path(d) / ("bench-quick.json" if quick else "bench.json")
        if not f.is_file():
            return [], [], {"emulated": f"the emulated devices' run wrote no results (exit {proc.exitcode})"}
        data = json.loads(f.read_text())
    kernels = [SuiteKernel(**{**k, "tune_shape": tuple(k["tune_shape"]) if k.get("tune_shape") else None})
               for k in data["meta"].get("kernels") or []]
    return [Row.from_json(r) for r in data["rows"]], kernels, data["meta"].get("errors") or {}


def run_suite(lab, *, quick: bool = False, devices: list[str] | None = None, budget_s: float = 20.0,
              with_before: bool = False, out_dir: Path | None = None, tune_budget: int = TUNE_BUDGET,
              plans: dict | None = None, devices_file=None, log=print, child: bool = False) -> dict:
    """plans: device name -> [KernelPlan] instead of device_plan's (a partial run); child: this is
    the emulated devices' process (_emulated_child): no roofline, no charts."""
    started = time.monotonic()
    out_dir = out_dir or lab.ws.root / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(plans) if plans else (devices or (["host"] + (list(QUICK_EMU) if quick else
                                                               EMULATED + [n for n in THREADED if n in lab.devices])))
    names = [lab.device(n).name for n in names]
    if quick:
        budget_s = min(budget_s, 6.0)
    budgets = Budgets(pair_s=budget_s, tune=min(tune_budget, QUICK_TUNE_BUDGET) if quick else tune_budget,
                      rounds=QUICK_ROUNDS if quick else EXPERT_ROUNDS, quick=quick)
    plan = {n: (plans or {}).get(n) or device_plan(lab, n, quick) for n in names}
    for n in names:
        log(f"{n}: " + "; ".join(f"{p.op} {p.role} ({len(p.shapes)} shapes), tuned at "
                                 f"{_fmt_shape(p.tune_shape, p.op)}" for p in plan[n]))
    results: dict[str, list[Row]] = {}
    kernels: dict[str, list[SuiteKernel]] = {}
    errors: dict[str, str] = {}

    def measure(n: str, naive_max: float) -> None:   # one device's failure is reported, never stops the suite
        try:
            results[n], kernels[n] = measure_device(lab, lab.devices[n], plan[n], budgets=budgets,
                                                    with_before=with_before, naive_max=naive_max,
                                                    devices_file=devices_file, log=log)
        except Exception as e:
            errors[n] = f"{type(e).__name__}: {e}"
            log(f"{n}: {errors[n]}")

    emu_names = [n for n in names if lab.devices[n].emulated]
    host_names = [n for n in names if not lab.devices[n].emulated and lab.devices[n].threads_allowed == 1]
    threaded_names = [n for n in names if not lab.devices[n].emulated and lab.devices[n].threads_allowed > 1]

    def emu_worker():          # the emulated devices on the second core, while the host is timed
        if host_names and emu_names and not plans:
            rows, ks, errs = _emulated_child(lab, emu_names, quick=quick, budgets=budgets, with_before=with_before,
                                             devices_file=devices_file, log=log)
            for r in rows:
                results.setdefault(r.device, []).append(r)
            for k in ks:
                kernels.setdefault(k.device, []).append(k)
            errors.update(errs)
            return
        for n in emu_names:
            measure(n, NAIVE_MAX_FLOPS_EMU)
    # the roofline's micro-benchmarks first, on a machine not yet busy with QEMU, and again at the
    # end; the best of each figure is the ceiling (a shared VM only ever makes them lower)
    hosts = [n for n in names if not lab.devices[n].emulated and lab.devices[n].transport == "local"
             and lab.devices[n].arch in ("native", "x86_64")]
    micro = {}
    if hosts and not child:
        micro = roofline_micro(lab, lab.devices[hosts[0]], quick=quick)
        log(f"{hosts[0]}: roofline micro-benchmarks {micro}")
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    th = threading.Thread(target=emu_worker, daemon=True)
    th.start()
    for n in host_names:
        measure(n, NAIVE_MAX_FLOPS)
    th.join()
    for n in threaded_names:     # after QEMU is done: both cores for the 2-thread kernels
        measure(n, 0)
    if hosts and "error" not in micro:
        again = roofline_micro(lab, lab.devices[hosts[0]], quick=quick)
        if "error" not in again:
            micro = {k: max(v, again.get(k, 0)) for k, v in micro.items()}
            log(f"{hosts[0]}: roofline micro-benchmarks again {again}; kept the best of each")
    rows = [r for n in names for r in results.get(n, [])]
    all_kernels = [k for n in names for k in kernels.get(n, [])]
    import datetime
    meta = {"command": "tensorop bench-suite" + (" --quick" if quick else "") + (" --before" if with_before else "")
            + (f" --budget {budget_s:g}" if budget_s != 20.0 and not quick else "")
            + (f" --tune-budget {tune_budget}" if tune_budget != TUNE_BUDGET else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_s": time.monotonic() - started,
            "generated": ("the expert generator's first plan point per device (untuned)" if budgets.tune <= 0 else
                          f"`generate` + MCTS tuning ({budgets.tune} trials) per device and kernel"),
            "tuning": tuning_note(budgets), "tune_budget": budgets.tune, "rounds": budgets.rounds,
            "plan": {n: [{"op": p.op, "role": p.role, "tune_shape": list(p.tune_shape),
                          "shapes": [list(s) for s in p.shapes]} for p in plan[n]] for n in names},
            "kernels": [k.to_json() for k in all_kernels],
            "left_out": {n: why for n, why in EMU_NO_1024.items() if n in names and not quick},
            "openblas": "0.3.34 (scipy-openblas32)", "mkl": MKL_VERSION, "budget_s": budget_s, "errors": errors,
            "argv": sys.argv}
    md = to_markdown(rows, micro, meta, all_kernels)
    if errors:
        md += "\nDevice errors:\n\n" + "\n".join(f"- {k}: {v}" for k, v in errors.items()) + "\n"
    stem = "bench-quick" if quick else "bench"
    (out_dir / f"{stem}.md").write_text(md)
    (out_dir / f"{stem}.json").write_text(json.dumps({"meta": meta, "micro": micro,
                                                      "rows": [r.to_json() for r in rows]}, indent=1))
    pngs = [] if child else charts(rows, micro, out_dir, stem)
    return {"markdown": md, "rows": rows, "kernels": all_kernels, "micro": micro, "meta": meta,
            "files": [out_dir / f"{stem}.md", *pngs]}
