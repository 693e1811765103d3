"""`tensorop bench-suite` (`make bench`): the one-command benchmark of issue 12.

The generated kernels are what a user of `tensorop generate` gets. Each one comes from the
generate pipeline (`generate.command.generate_and_tune`: the expert generator's candidates, each
verified and compared with OpenBLAS by the one objective, the best written to a kernel folder
under generated/bench-suite/, then generate's tuning stage `tune.command.tune_generated`, MCTS
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
- host: `objective.paired` (both kernels linked into one driver, timed interleaved), ratio of
  medians with a bootstrap 95% CI; GFLOP/s figures beside them are each kernel's own trial
  (indicative: unpaired, on a shared 2-vCPU VM); conv2d's OpenBLAS is im2col + OpenBLAS SGEMM
  (baselines/openblas_conv2d.c);
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
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.backends.cpu.baselines import baseline_kernel
from harness.ops import get_op
from harness.core.records import Artifact, Status
from harness.ops.suites import get_suite, scaled_shapes
from harness.core.records import Kernel
from harness.campaign.scheduler import Campaign, Job, new_campaign_id
from harness.campaign.store import Store

SQUARE = [(n, n, n) for n in (256, 512, 1024, 2048)]
# LLM inference (MxNxK): M tokens against 4096x4096 (attention projections), 4096->11008 (MLP up,
# N=11008) and 11008->4096 (MLP down, K=11008). A subset that fits the 30-minute budget.
LLM = [(1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096), (1, 11008, 4096), (16, 11008, 4096),
       (16, 4096, 11008)]
EMULATED = ["rv64-qemu", "rv64-qemu-vlen128", "arm64-qemu", "a76-qemu"]
# 2 threads (devices.yaml host-2t: the kernel and OpenBLAS both get 2 threads), timed after the
# emulated devices are done so QEMU does not take one of the two cores
THREADED = ["host-2t"]
THREADED_SHAPES = [(1024, 1024, 1024), (2048, 2048, 2048), (1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096)]
EMU_SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024)]
EMU_NO_1024 = {                   # device -> why 1024^3 is left out there (measured; see above)
    "rv64-qemu-vlen128": "a 1024^3 row takes ~4.6 min under QEMU (RVV LMUL 8 at VLEN 128 emulates slowly)",
    "arm64-qemu": "a 1024^3 row takes ~9 min under QEMU (SVE 256 emulates ~13x slower than NEON)",
}
NAIVE_MAX_FLOPS = 2.2e9           # host: naive only where one call takes well under a second
NAIVE_MAX_FLOPS_EMU = 4e7         # emulated: naive under QEMU is slow (256^3 = 3.4e7)

# the kernels: generate + tuning at a representative shape (see the docstring)
TUNE_BUDGET = 8                   # MCTS trials per kernel (`--tune-budget`), as `generate`'s default
SMALL_M = 16                      # the expert kernel's small-M path: M <= SM = 16
TUNE_GEMM_BLOCKED = (1024, 1024, 1024)
TUNE_GEMM_SMALL_M = (16, 4096, 4096)
TUNE_GEMM_EMU = (256, 256, 256)
CONV_SUITE = "paper-conv"
CONV_HOST_SCALE = 1 / 16          # host conv batch: 64 -> 4, 32 -> 2 (suites.scaled_batch)
CONV_TUNE_LAYER = 2               # the paper's 64x56x56 -> 64, 3x3 layer (index in the suite)
CONV_EMU_DEVICE = "rv64-qemu"
CONV_EMU_LAYERS = (0, 1, 2, 3, 4, 5, 6)
SUITE_KERNELS = "bench-suite"     # generated/bench-suite/<device>/<op>_<shape>_<dtype>/

# --quick: a smoke test of every path (generate + a little tuning, GEMM and conv2d, paired and
# modelled) in about a minute
QUICK_HOST = [(256, 256, 256), (1, 1024, 1024)]
QUICK_CONV_LAYER = 1              # 64x56x56 -> 64, 1x1 at batch 1: the cheapest paper layer
QUICK_EMU = {"rv64-qemu": [(128, 128, 128)]}
QUICK_TUNE_BUDGET = 3
QUICK_ROUNDS = 2
QUICK_PAIRS = {"search_pair_s": 1.0, "final_pair_s": 3.0}    # generate's paired budgets, s
QUICK_TUNE_PAIR_S = 2.0                                       # the tuning stage's paired budget, s
BEFORE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "before_kernels"


@dataclass(frozen=True)
class KernelPlan:
    """One generated kernel of the suite: made by `generate` + tuning at tune_shape, measured
    (full trial and comparisons) at each of shapes."""
    op: str                              # "gemm" | "conv2d"
    role: str                            # the shapes it serves, as the report says it
    tune_shape: tuple[int, ...]
    shapes: tuple[tuple[int, ...], ...]


@dataclass
class SuiteKernel:
    """A generated kernel as the suite measured it, and how it was made."""
    device: str
    op: str
    role: str
    label: str                           # short name in the table
    made_by: str                         # the pipeline and its budget
    tune_shape: tuple[int, ...] | None = None
    point: str = ""                      # the chosen candidate (after tuning: its point)
    at_tune_shape: dict | None = None    # vs OpenBLAS at the tuning shape (the one objective), from meta.json
    folder: str = ""                     # relative to the workspace root
    source_hash: str = ""                # of the kernel measured (the folder's kernel.c)
    wall_s: float = 0.0
    error: str = ""
    kernel: Kernel | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("kernel")
        d["tune_shape"] = list(self.tune_shape) if self.tune_shape else None
        return d


@dataclass
class Row:
    device: str
    shape: tuple[int, ...]
    metric: str                               # time | modelled_cycles
    kernel: str = ""                          # the generated kernel's label (SuiteKernel.label)
    gflops: dict = field(default_factory=dict)      # kernel -> GFLOP/s (own trial; modelled on emulated)
    cycles: dict = field(default_factory=dict)      # kernel -> modelled cycles per call
    vs: dict = field(default_factory=dict)          # "openblas" | "naive" | "before" -> Ratio.to_json()
    status: dict = field(default_factory=dict)      # kernel -> status (+ error)
    op: str = "gemm"

    def to_json(self) -> dict:
        return {"device": self.device, "op": self.op, "shape": list(self.shape), "metric": self.metric,
                "kernel": self.kernel, "gflops": self.gflops, "cycles": self.cycles, "vs": self.vs,
                "status": self.status}

    @classmethod
    def from_json(cls, r: dict) -> "Row":
        return cls(r["device"], tuple(r["shape"]), r["metric"], r["kernel"], r["gflops"], r["cycles"], r["vs"],
                   r["status"], r.get("op", "gemm"))


def _fmt_shape(s, op: str = "gemm") -> str:
    return get_op(op, "f32").shape_text(tuple(s))


# ---- the plan: devices x kernels x shapes ----------------------------------------------------
def gemm_plans(shapes, tune_blocked, tune_small_m) -> list[KernelPlan]:
    """Two GEMM kernels: M > SMALL_M (the blocked path) and M <= SMALL_M (the small-M path)."""
    blocked = tuple(s for s in shapes if s[0] > SMALL_M)
    small = tuple(s for s in shapes if s[0] <= SMALL_M)
    out = []
    if blocked:
        out.append(KernelPlan("gemm", f"M > {SMALL_M}", tune_blocked, blocked))
    if small:
        out.append(KernelPlan("gemm", f"M <= {SMALL_M}", tune_small_m, small))
    return out


def conv_plan(batch_one: bool, layers=None, tune_layer: int = CONV_TUNE_LAYER) -> KernelPlan:
    """The paper-conv layers (`layers`: their indices, default all), batch scaled as
    harness.ops.suites does: 1 image (emulated devices, --quick) or CONV_HOST_SCALE of the batch;
    tuned at layer `tune_layer`."""
    all_shapes = scaled_shapes(get_suite(CONV_SUITE), CONV_HOST_SCALE, batch_one)
    shapes = tuple(all_shapes[i] for i in layers) if layers is not None else tuple(all_shapes)
    return KernelPlan("conv2d", f"{CONV_SUITE} layers", all_shapes[tune_layer], shapes)


def device_plan(lab, name: str, quick: bool = False) -> list[KernelPlan]:
    dev = lab.devices[name]
    if dev.emulated:
        if quick:
            shapes = tuple(QUICK_EMU.get(name, [(128, 128, 128)]))
            return [KernelPlan("gemm", "all", shapes[0], shapes)]
        shapes = tuple(s for s in EMU_SHAPES if not (s[0] >= 1024 and name in EMU_NO_1024))
        plans = [KernelPlan("gemm", "all", TUNE_GEMM_EMU, shapes)]
        if name == CONV_EMU_DEVICE:
            plans.append(conv_plan(batch_one=True, layers=CONV_EMU_LAYERS))
        return plans
    if quick:
        return [KernelPlan("gemm", "all", QUICK_HOST[0], tuple(QUICK_HOST)),
                conv_plan(batch_one=True, layers=(QUICK_CONV_LAYER,), tune_layer=QUICK_CONV_LAYER)]
    if dev.threads_allowed > 1:
        return gemm_plans(THREADED_SHAPES, TUNE_GEMM_BLOCKED, TUNE_GEMM_SMALL_M)
    return gemm_plans(SQUARE + LLM, TUNE_GEMM_BLOCKED, TUNE_GEMM_SMALL_M) + [conv_plan(batch_one=False)]


# ---- the kernels ---------------------------------------------------------------------------
def generated_kernel(lab, device, op: str = "gemm") -> Kernel:
    """The expert generator's first plan point for the device (what `generate` starts from),
    untuned: the suite's kernel with --tune-budget 0."""
    from harness.generate.expert import ExpertGenerator
    from harness.generate.hardware import comprehend
    from harness.generate.templates.cpu_gemm import render
    hw = comprehend(lab, device, run_probe=True)
    if op == "conv2d":
        from harness.generate.templates.conv import plan
        name, source, _ = plan(hw, 1)[0]
        return Kernel(label=f"expert-{name}", source=source.encode(), name="kernel.c")
    ps, point = ExpertGenerator().plan(hw, 1)[0]
    l1 = hw.caches.get("l1d", 48 * 1024)
    label = f"expert-{ps}"
    return Kernel(label=label, source=render(ps, point, l1_bytes=l1).encode(), name=f"{label}.c")


def untuned_kernel(lab, device, plan: KernelPlan) -> SuiteKernel:
    k = generated_kernel(lab, device, plan.op)
    return SuiteKernel(device.name, plan.op, plan.role, k.label, "expert generator's first plan point (untuned)",
                       point=k.label, source_hash=k.hash, kernel=k)


def pipeline_kernel(lab, device, plan: KernelPlan, *, tune_budget: int, rounds: int, quick: bool = False,
                    devices_file=None, log=print) -> SuiteKernel:
    """The kernel `tensorop generate "<op> <tune_shape> on <device>" --tune-budget N` gives, made by
    the same pipeline (generate.command.generate_and_tune), into generated/bench-suite/."""
    from harness.campaign.scheduler import new_campaign_id
    from harness.generate.base import Task
    from harness.generate.pipeline import generate_and_tune
    from harness.generate.expert import ExpertGenerator
    from harness.campaign.store import Store
    t0 = time.monotonic()
    op = get_op(plan.op, "f32")
    shape_text = op.shape_text(plan.tune_shape)
    made_by = f"generate ({rounds} candidates) + MCTS {tune_budget} trials at {shape_text}"
    sk = SuiteKernel(device.name, plan.op, plan.role, f"gen@{shape_text}", made_by, plan.tune_shape)
    task = Task(plan.op, plan.tune_shape, "f32", (device.name,), prompt=f"bench-suite: {plan.op} {shape_text} "
                f"on {device.name}")
    log(f"{device.name}: generating {plan.op} at {shape_text} ({made_by}) for {plan.role}")
    with Store(lab.ws.database) as store:
        r = generate_and_tune(lab, task, device.name, ExpertGenerator(points=rounds), store, rounds=rounds,
                              campaign="bench-suite-" + new_campaign_id(), tune_budget=tune_budget,
                              on_event=log, root=lab.ws.generated / SUITE_KERNELS,
                              tune_pair_budget_s=QUICK_TUNE_PAIR_S if quick else None,
                              **(QUICK_PAIRS if quick else {}))
    sk.wall_s = round(time.monotonic() - t0, 1)
    if not r.ok or r.folder is None:
        sk.error = f"generate found no verified kernel: {r.error or 'no folder written'}"
        return sk
    meta = json.loads((r.folder / "meta.json").read_text())
    source = (r.folder / "kernel.c").read_bytes()
    sk.point = chosen_point(meta, source, tuned=r.tuned)
    sk.at_tune_shape = meta.get("vs_openblas")
    try:
        sk.folder = str(r.folder.relative_to(lab.ws.root))
    except ValueError:
        sk.folder = str(r.folder)
    sk.kernel = Kernel(label=sk.label, source=source, name="kernel.c")
    sk.source_hash = sk.kernel.hash
    return sk


def chosen_point(meta: dict, source: bytes, tuned: dict | None) -> str:
    """The kernel folder's point in words: primitive set (and conv sketch), parameters, and
    whether the tuning stage changed it."""
    cand = str(meta.get("candidate") or "")
    sketch = ""
    if meta.get("op") == "conv2d":
        sketch = "direct " if b"direct convolution" in source[:300] else "im2col "
    if cand.startswith("tune:"):
        return f"{sketch}{meta.get('primitive_set')} {cand[len('tune:'):]} (tuned)"
    return cand + (" (tuning kept it)" if tuned else "")


def before_kernel(device_name: str) -> Kernel | None:
    p = BEFORE_DIR / f"{device_name}.c"
    return Kernel.from_file(p, label="before") if p.is_file() else None


# ---- measuring -----------------------------------------------------------------------------
def _record(row: Row, name: str, t) -> None:
    row.status[name] = t.status.value + (f": {t.error[:160]}" if t.status is not Status.OK else "")
    if t.status is Status.OK:
        if t.gflops:
            row.gflops[name] = round(t.gflops, 2)
        if t.cycles:
            row.cycles[name] = t.cycles


@dataclass(frozen=True)
class Budgets:
    """What the suite spends: paired seconds per host comparison, tuning trials, generate rounds."""
    pair_s: float = 20.0
    tune: int = TUNE_BUDGET
    rounds: int = 4
    quick: bool = False


def measure_kernel(c: Campaign, device, sk: SuiteKernel, shapes, *, budget_s: float, others_for,
                   overrides: dict, log=print) -> list[Row]:
    """The kernel's full trial at each shape beside the other kernels (others_for(shape): name ->
    Kernel), then each comparison by the one objective (Campaign.compare)."""
    op = get_op(sk.op, "f32")
    metric = "modelled_cycles" if device.emulated else "time"
    rows = []
    for shape in shapes:
        t0 = time.monotonic()
        row = Row(device.name, shape, metric, sk.label, op=sk.op)
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
                            budget_s=budget_s if name == "openblas" else budget_s / 2)
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
    measured at its shapes beside OpenBLAS, the naive loop (short calls only) and, for GEMM with
    --before, the kernel before issue 12."""
    rows, kernels = [], []
    overrides = {} if device.emulated else {"max_time_s": 2.0, "max_samples": 30}
    for plan in plans:
        op = get_op(plan.op, "f32")
        if budgets.tune > 0:
            sk = pipeline_kernel(lab, device, plan, tune_budget=budgets.tune, rounds=budgets.rounds,
                                 quick=budgets.quick, devices_file=devices_file, log=log)
        else:
            sk = untuned_kernel(lab, device, plan)
        kernels.append(sk)
        metric = "modelled_cycles" if device.emulated else "time"
        if sk.kernel is None:
            log(f"{device.name}: {plan.op} for {plan.role}: {sk.error}")
            rows += [Row(device.name, s, metric, sk.label, status={"generated": sk.error[:200]}, op=plan.op)
                     for s in plan.shapes]
            continue
        base = {"openblas": baseline_kernel(lab.ws, "openblas", device.arch, op),
                "naive": baseline_kernel(lab.ws, "naive", device.arch, op)}
        bk = before_kernel(device.name) if with_before and plan.op == "gemm" else None

        def others_for(shape, base=base, bk=bk, op=op):
            o = {"openblas": base["openblas"]}
            if op.flops(shape) <= naive_max:
                o["naive"] = base["naive"]
            if bk is not None:
                o["before"] = bk
            return o
        with Store(lab.ws.database) as store, Campaign(lab, store, campaign="bench-suite-" + new_campaign_id()) as c:
            rows += measure_kernel(c, device, sk, plan.shapes, budget_s=budgets.pair_s, others_for=others_for,
                                   overrides=overrides, log=log)
    return rows, kernels


def _ratio_text(v: dict | None) -> str:
    if not v:
        return "-"
    if v["metric"] == "modelled_cycles":
        return f"{v['ratio']:.3f}x (modelled)"
    ci = v.get("ratio_ci95")
    return f"{v['ratio']:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v['ratio']:.2f}x"


# ---- roofline micro-benchmarks ---------------------------------------------------------------
MICRO_C = r"""
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double best_fma(long iters) {
    __m512 a[16], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
                         "+v"(a[6]), "+v"(a[7]));
    }
    double t = now() - t0;
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    float out[16]; _mm512_storeu_ps(out, s);
    if (out[0] == 12345.f) puts("");
    return iters * 16.0 * 32.0 / t / 1e9;     /* GFLOP/s: 16 FMAs x 16 lanes x 2 */
}
static double best_read(const float *x, size_t n) {
    double t0 = now();
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    double t = now() - t0;
    float out[16]; _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    if (out[0] == 12345.f) puts("");
    return n * 4.0 / t / 1e9;                  /* GB/s */
}
int main(void) {
    double fma = 0, bw = 0, l2 = 0;
    for (int r = 0; r < 7; r++) { double g = best_fma(20000000); if (g > fma) fma = g; }
    size_t n = (size_t)64 << 20;               /* 256 MiB: DRAM */
    float *x = aligned_alloc(64, n * 4);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    for (int r = 0; r < 5; r++) { double g = best_read(x, n); if (g > bw) bw = g; }
    size_t m = (size_t)256 << 10;              /* 1 MiB: L2 */
    for (int r = 0; r < 200; r++) { double g = best_read(x, m); if (g > l2) l2 = g; }
    char buf[200];
    int len = snprintf(buf, sizeof buf, "{\"peak_gflops\": %.2f, \"dram_gbs\": %.2f, \"l2_gbs\": %.2f}\n", fma, bw, l2);
    if (write(3, buf, (size_t)len) < 0) puts(buf);
    return 0;
}
"""


def roofline_micro(lab, device, quick: bool = False) -> dict:
    """Peak single-core FMA GFLOP/s and streaming read bandwidth (DRAM, L2) of the host, from our
    own C micro-benchmarks built with the device's toolchain and run through its transport."""
    from harness.transport import get_transport
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if cc is None:
        return {"error": "no compiler"}
    src = MICRO_C
    if quick:
        src = src.replace("20000000", "2000000").replace("r < 200", "r < 20")
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="micro-", dir=lab.ws.scratch) as d:
        s, exe = Path(d) / "micro.c", Path(d) / "micro"
        s.write_text(src)
        p = subprocess.run([cc, *tc.cflags, str(s), "-o", str(exe), *tc.ldflags], capture_output=True, text=True,
                           timeout=120, env=tc.environ())
        if p.returncode != 0:
            return {"error": f"build: {p.stderr[-300:]}"}
        with get_transport(device, lab.ws) as tr:
            r = tr.run(Artifact(key="roofline-micro", executable=exe), [], timeout_s=120)
    text = (r.channel or b"").decode(errors="replace").strip() or r.stdout.strip()
    try:
        return json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"micro-benchmark printed no answer (rc {r.returncode}): {r.stderr[-200:]}"}


# ---- reporting -----------------------------------------------------------------------------
def kernels_markdown(kernels: list[SuiteKernel]) -> list[str]:
    """The generated kernels: how each was made, for which rows, and its ratio at its tuning shape."""
    if not kernels:
        return []
    out = ["Generated kernels (`kernel` column above):", "",
           "| device | kernel | op | used for | made by | chosen point | at its tuning shape vs OpenBLAS |",
           "|---|---|---|---|---|---|---|"]
    for k in kernels:
        at = _ratio_text(k.at_tune_shape) + (" (paired)" if k.at_tune_shape and
                                               k.at_tune_shape.get("metric") == "time" else "")
        out.append(f"| {k.device} | {k.label} | {k.op} | {k.role} | {k.made_by} | "
                   f"{k.point or k.error[:80]} | {at if k.at_tune_shape else '-'} |")
    return out + [""]


def to_markdown(rows: list[Row], micro: dict, meta: dict, kernels: list[SuiteKernel] | None = None) -> str:
    out = ["# tensorop benchmark suite", "",
           f"Command: `{meta['command']}` ({meta['date']}, {meta['wall_s']:.0f} s wall). "
           f"Generated = {meta['generated']}. OpenBLAS {meta['openblas']} single-threaded "
           "(host-2t: 2 threads); conv2d's OpenBLAS is im2col + OpenBLAS SGEMM.",
           "Host ratios are **paired** (both kernels in one driver, interleaved; ratio of medians, "
           "bootstrap 95% CI); > 1 means the generated kernel is faster. Emulated ratios are **modelled "
           "cycles** (QEMU block profile + llvm-mca core model; deterministic, no CI). GFLOP/s columns are "
           "each kernel's own trial: on the host unpaired (indicative only), on emulated devices modelled "
           "at the device's nominal clock.", ""]
    if meta.get("tuning"):
        out += [f"Tuning: {meta['tuning']}", ""]
    if meta.get("left_out"):
        out += ["Left out: " + "; ".join(f"{d} 1024x1024x1024: {why}" for d, why in meta["left_out"].items()) + ".", ""]
    if micro and "error" not in micro:
        out += [f"Host roofline (our micro-benchmarks, 1 core): peak FMA {micro['peak_gflops']:.0f} GFLOP/s, "
                f"streaming read {micro['dram_gbs']:.1f} GB/s (DRAM), {micro['l2_gbs']:.0f} GB/s (L2).", ""]
    has_before = any("before" in r.vs for r in rows)
    head = ["device", "op", "shape", "kernel", "metric", "gen GFLOP/s", "OpenBLAS GFLOP/s", "naive GFLOP/s",
            "gen vs OpenBLAS", "gen vs naive"] + (["after vs before"] if has_before else [])
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = lambda k: f"{r.gflops[k]:.1f}" if k in r.gflops else ("-" if k not in r.status else r.status[k][:20])
        cells = [r.device, r.op, _fmt_shape(r.shape, r.op), r.kernel, "paired time" if r.metric == "time" else "modelled",
                 g("generated"), g("openblas"), g("naive"), _ratio_text(r.vs.get("openblas")),
                 _ratio_text(r.vs.get("naive"))] + ([_ratio_text(r.vs.get("before"))] if has_before else [])
        out.append("| " + " | ".join(cells) + " |")
    out += [""] + kernels_markdown(kernels or [])
    fails = [(r, k, v) for r in rows for k, v in r.status.items() if not v.startswith("ok")]
    if fails:
        out += ["Failures:", ""] + [f"- {r.device} {_fmt_shape(r.shape, r.op)} {k}: {v}" for r, k, v in fails]
    return "\n".join(out).rstrip("\n") + "\n"


def charts(rows: list[Row], micro: dict, out_dir: Path, stem: str = "bench") -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    rs = [r for r in rows if "openblas" in r.vs]
    if rs:
        fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rs)), 4.6))
        xs = range(len(rs))
        vals = [r.vs["openblas"]["ratio"] for r in rs]
        lo = [v - (r.vs["openblas"]["ratio_ci95"] or [v, v])[0] for v, r in zip(vals, rs)]
        hi = [(r.vs["openblas"]["ratio_ci95"] or [v, v])[1] - v for v, r in zip(vals, rs)]
        colors = ["tab:blue" if r.metric == "time" else "tab:orange" for r in rs]
        ax.bar(xs, vals, color=colors, yerr=[lo, hi], capsize=3)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r.device}\n{_fmt_shape(r.shape, r.op)}" for r in rs], rotation=70, fontsize=6)
        ax.set_ylabel("speed vs OpenBLAS (>1: generated faster)")
        ax.set_title("generated vs OpenBLAS: host paired time (blue, 95% CI), emulated modelled cycles (orange)",
                     fontsize=8)
        fig.tight_layout()
        p = out_dir / f"{stem}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    gemm = get_op("gemm", "f32")
    host = [r for r in rows if r.metric == "time" and r.gflops and r.op == "gemm"]
    if host and micro and "error" not in micro:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        peak, bw = micro["peak_gflops"], micro["dram_gbs"]
        import numpy as np
        ai = np.logspace(-1, 3, 200)
        ax.loglog(ai, np.minimum(peak, bw * ai), "k-", lw=1.2, label=f"roof: {peak:.0f} GFLOP/s, {bw:.0f} GB/s")
        if micro.get("l2_gbs"):
            ax.loglog(ai, np.minimum(peak, micro["l2_gbs"] * ai), "k:", lw=0.8, label=f"L2 {micro['l2_gbs']:.0f} GB/s")
        marks = {"generated": ("o", "tab:blue"), "openblas": ("s", "tab:green"), "naive": ("x", "tab:red")}
        for name, (m, c) in marks.items():
            pts = [(gemm.flops(r.shape) / (4.0 * (r.shape[0] * r.shape[2] + r.shape[2] * r.shape[1] +
                                                   r.shape[0] * r.shape[1])), r.gflops[name])
                   for r in host if name in r.gflops]
            if pts:
                ax.loglog(*zip(*pts), m, color=c, label=name, ms=6, mfc="none" if m != "x" else None)
        ax.set_xlabel("arithmetic intensity, FLOP per compulsory DRAM byte")
        ax.set_ylabel("GFLOP/s (each kernel's own trial)")
        ax.set_title("host roofline (SGEMM; host-2t points with 2 threads)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / ("roofline.png" if stem == "bench" else f"{stem}-roofline.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def tuning_note(budgets: Budgets) -> str:
    """The meta line that states how the generated kernels were made (bench.md's header)."""
    if budgets.tune <= 0:
        return "none (--tune-budget 0): the expert generator's first plan point per device and op, untuned."
    if budgets.quick:
        return (f"--quick: `generate` ({budgets.rounds} candidates, short paired budgets) + MCTS {budgets.tune} "
                "trials, once per device and op at the first shape of the row group, reused for its shapes.")
    return (f"each generated kernel is what `tensorop generate \"<op> <shape> on <device>\" --tune-budget "
            f"{budgets.tune}` gives: {budgets.rounds} expert candidates compared with OpenBLAS by the one objective, "
            f"then MCTS on the one objective, {budgets.tune} trials; made once per device and kernel at a tuning "
            f"shape and reused for that kernel's shapes (a full trial, gate included, at every shape): GEMM "
            f"M > {SMALL_M} at {_fmt_shape(TUNE_GEMM_BLOCKED)}, GEMM M <= {SMALL_M} (the expert kernel's small-M "
            f"path) at {_fmt_shape(TUNE_GEMM_SMALL_M)}, emulated GEMM at {_fmt_shape(TUNE_GEMM_EMU)}, conv2d at the "
            f"64x56x56 -> 64 3x3 layer (batch as run). See the table of generated kernels below.")


# ---- the command ---------------------------------------------------------------------------
def _package_env() -> dict:
    """The environment of a child `python -m harness`: this very package first on its path
    (a workspace root other than the checkout must not pick up another installed copy)."""
    pkg_parent = str(Path(__file__).resolve().parents[2])
    pp = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": pkg_parent + (os.pathsep + pp if pp else ""),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _emulated_child(lab, names: list[str], *, quick: bool, budgets: Budgets, with_before: bool,
                    devices_file, log) -> tuple[list[Row], list[SuiteKernel], dict]:
    """The emulated devices in a child process (on the second core while the host is timed): two
    threads of one process computing NumPy references at once (OpenBLAS underneath, spinning
    threads) slow each other down ~100x."""
    with tempfile.TemporaryDirectory(prefix="bench-emu-", dir=lab.ws.scratch) as d:
        cmd = [sys.executable, "-m", "harness", "bench-suite", "--out", d, "--budget", str(budgets.pair_s),
               "--tune-budget", str(budgets.tune)]
        cmd += [a for n in names for a in ("--device", n)]
        cmd += (["--quick"] if quick else []) + (["--before"] if with_before else [])
        cmd += ["--devices-file", str(devices_file)] if devices_file else []
        proc = subprocess.Popen(cmd, cwd=lab.ws.root, env=_package_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if not line.startswith("wrote "):
                log(line.rstrip())
        proc.wait()
        f = Path(d) / ("bench-quick.json" if quick else "bench.json")
        if not f.is_file():
            return [], [], {"emulated": f"the emulated devices' run wrote no results (exit {proc.returncode})"}
        data = json.loads(f.read_text())
    kernels = [SuiteKernel(**{**k, "tune_shape": tuple(k["tune_shape"]) if k.get("tune_shape") else None})
               for k in data["meta"].get("kernels") or []]
    return [Row.from_json(r) for r in data["rows"]], kernels, data["meta"].get("errors") or {}


def run_suite(lab, *, quick: bool = False, devices: list[str] | None = None, budget_s: float = 20.0,
              with_before: bool = False, out_dir: Path | None = None, tune_budget: int = TUNE_BUDGET,
              plans: dict | None = None, devices_file=None, log=print) -> dict:
    """plans: device name -> [KernelPlan] instead of device_plan's (a partial run)."""
    from harness.apps.generate import EXPERT_ROUNDS
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
    if hosts:
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
            "openblas": "0.3.34 (scipy-openblas32)", "budget_s": budget_s, "errors": errors,
            "argv": sys.argv}
    md = to_markdown(rows, micro, meta, all_kernels)
    if errors:
        md += "\nDevice errors:\n\n" + "\n".join(f"- {k}: {v}" for k, v in errors.items()) + "\n"
    stem = "bench-quick" if quick else "bench"
    (out_dir / f"{stem}.md").write_text(md)
    (out_dir / f"{stem}.json").write_text(json.dumps({"meta": meta, "micro": micro,
                                                      "rows": [r.to_json() for r in rows]}, indent=1))
    pngs = charts(rows, micro, out_dir, stem)
    return {"markdown": md, "rows": rows, "kernels": all_kernels, "micro": micro, "meta": meta,
            "files": [out_dir / f"{stem}.md", *pngs]}
