"""What the bench suite measures (the docstring of harness/apps/bench_suite/measure.py says why):
the devices and shapes (SQUARE, LLM, EMULATED, ...), one KernelPlan per generated kernel (its
tuning shape and the shapes it serves), and how each kernel is made: generate's pipeline with its
tuning stage (pipeline_kernel), or the expert generator's first point untuned (untuned_kernel)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from harness.campaign.scheduler import new_campaign_id
from harness.campaign.store import Store
from harness.core.records import Kernel
from harness.core.workspace import PACKAGE_DIR
from harness.generate.base import Task
from harness.generate.expert import ExpertGenerator
from harness.generate.hardware import comprehend
from harness.tune.pipeline import generate_and_tune
from harness.generate.templates.registry import render
from harness.ops import get_op
from harness.ops.suites import get_suite, scaled_shapes
from harness.generate.templates.conv import plan

SQUARE = [(n, n, n) for n in (256, 512, 1024, 2048)]


# LLM inference (MxNxK): M tokens against 4096x4096 (attention projections), 4096->11008 (MLP up,
# N=11008) and 11008->4096 (MLP down, K=11008). A subset that fits the 30-minute budget.
LLM = [(1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096), (1, 11008, 4096), (16, 11008, 4096),
       (16, 4096, 11008)]


EMULATED = ["rv64-qemu", "rv64-qemu-vlen128", "arm64-qemu", "a76-qemu"]


# 2 threads (devices.yaml host-2t: the kernel and OpenBLAS both get 2 threads), timed after the
# emulated devices are done so QEMU does not take one of the two cores
THREADED = ["host-2t"]


# low precision on the host (1 thread): generated bf16 (f32 accumulation) and int8 (int32) GEMM
# against the libraries' own low-precision GEMMs (MKL cblas_gemm_bf16bf16f32 / cblas_gemm_s8u8s32)
# and against OpenBLAS's SGEMM on the inputs widened to f32 (the scipy wheel has no sbgemm)
LOWP = {"bf16": [(1024, 1024, 1024)], "i8": [(1024, 1024, 1024)]}


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


BEFORE_DIR = PACKAGE_DIR.parent / "benchmarks" / "before_kernels"


@dataclass(frozen=True)
class KernelPlan:
    """One generated kernel of the suite: made by `generate` + tuning at tune_shape, measured
    (full trial and comparisons) at each of shapes."""
    op: str                              # "gemm" | "conv2d"
    role: str                            # the shapes it serves, as the report says it
    tune_shape: tuple[int, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtype: str = "f32"


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
    dtype: str = "f32"
    source_hash: str = ""                # of the kernel measured (the folder's kernel.c)
    wall_s: float = 0.0
    error: str = ""
    kernel: Kernel | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("kernel")
        d["tune_shape"] = list(self.tune_shape) if self.tune_shape else None
        return d


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
    lowp = [KernelPlan("gemm", f"{dt}", shapes[0], tuple(shapes), dtype=dt) for dt, shapes in LOWP.items()]
    return gemm_plans(SQUARE + LLM, TUNE_GEMM_BLOCKED, TUNE_GEMM_SMALL_M) + [conv_plan(batch_one=False)] + lowp


# ---- the kernels ---------------------------------------------------------------------------
def generated_kernel(lab, device, op: str = "gemm") -> Kernel:
    """The expert generator's first plan point for the device (what `generate` starts from),
    untuned: the suite's kernel with --tune-budget 0."""
    hw = comprehend(lab, device, run_probe=True)
    if op == "conv2d":
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
    t0 = time.monotonic()
    op = get_op(plan.op, plan.dtype)
    shape_text = op.shape_text(plan.tune_shape)
    made_by = f"generate ({rounds} candidates) + MCTS {tune_budget} trials at {shape_text}"
    dt = "" if plan.dtype == "f32" else f" {plan.dtype}"
    sk = SuiteKernel(device.name, plan.op, plan.role, f"gen@{shape_text}{dt}", made_by, plan.tune_shape,
                     dtype=plan.dtype)
    task = Task(plan.op, plan.tune_shape, plan.dtype, (device.name,), prompt=f"bench-suite: {plan.op}{dt} "
                f"{shape_text} on {device.name}")
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
    params = r.folder / "params.json"
    family = (json.loads(params.read_text()).get("values") or {}).get("primitive_set") if params.is_file() else None
    sk.point = chosen_point({**meta, "primitive_set": family or meta.get("primitive_set")}, source, tuned=r.tuned)
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
        head = source[:300]
        sketch = ("direct " if b"direct convolution" in head else "implicit " if b"implicit GEMM" in head
                  else "im2col ")
    if cand.startswith("tune:"):
        return f"{sketch}{meta.get('primitive_set')} {cand[len('tune:'):]} (tuned)"
    return cand + (" (tuning kept it)" if tuned else "")


def before_kernel(device_name: str) -> Kernel | None:
    p = BEFORE_DIR / f"{device_name}.c"
    return Kernel.from_file(p, label="before") if p.is_file() else None


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
    threads: int = 1                                # the task's threads (host-2t: 2; its roof is 2 cores)
    dtype: str = "f32"

    def to_json(self) -> dict:
        return {"device": self.device, "op": self.op, "shape": list(self.shape), "metric": self.metric,
                "kernel": self.kernel, "gflops": self.gflops, "cycles": self.cycles, "vs": self.vs,
                "status": self.status, "threads": self.threads, "dtype": self.dtype}

    @classmethod
    def from_json(cls, r: dict) -> "Row":
        return cls(r["device"], tuple(r["shape"]), r["metric"], r["kernel"], r["gflops"], r["cycles"], r["vs"],
                   r["status"], r.get("op", "gemm"), int(r.get("threads") or 1), r.get("dtype", "f32"))


@dataclass(frozen=True)
class Budgets:
    """What the suite spends: paired seconds per host comparison, tuning trials, generate rounds."""
    pair_s: float = 20.0
    tune: int = TUNE_BUDGET
    rounds: int = 4
    quick: bool = False


