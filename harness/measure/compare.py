"""The one objective: how fast is a trial, and is it faster than another (DESIGN.md).

Every "faster" in tensorop (bench --against, generate, the tuners, report) comes from here:
- real devices: time. A trial's own figure is its median seconds per call; comparing two
  kernels is a *paired* measurement (`paired`): both linked into one driver, timed interleaved
  sample by sample (alternating which goes first, same fresh inputs, one pinned core), the ratio
  of medians with a paired bootstrap 95% CI and a Mann-Whitney p. An unpaired ratio of two
  trials measured at different times is never reported.
- emulated devices: modelled cycles per call (QEMU plugin profile + llvm-mca core model);
  deterministic, so a ratio of cycles needs no CI. An instruction count is never a speed.
And the physical limits: a figure beyond the device's peak is `suspicious`.
"""
from __future__ import annotations

import math
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import stats as sps

from harness.config.devices import Device
from harness.ops import Op, default_op, get_op
from harness.core.records import Status, Trial

# No shipping CPU core sustains more than this; a real device's ceiling is its FMA width x
# FMA pipes x this clock, unless devices.yaml gives `peak_gflops`.
CLOCK_CEILING_GHZ = 6.0
FMA_PIPES = 2
MODEL_MARGIN = 4.0          # modelled cycles: flops per cycle beyond this x the vector FMA peak
DEFAULT_CLOCK_GHZ = 1.6     # nominal clock of an emulated device without `clock_ghz`


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


# ---- physical limits ---------------------------------------------------------------------
def threads_allowed(device: Device) -> int:
    return max(1, int(getattr(device, "threads", 1) or 1))


def clock_ghz(device: Device) -> float:
    return float(getattr(device, "clock_ghz", 0) or DEFAULT_CLOCK_GHZ)


@lru_cache(maxsize=1)
def _host_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def vector_bits(device: Device) -> int:
    """Widest f32 vector the device's features name (host: read from /proc/cpuinfo)."""
    feats = " ".join(device.features).lower()
    m = re.findall(r"(?:vlen|sve)(\d{3,4})", feats)
    if m:
        return max(int(x) for x in m)
    if not device.emulated and device.transport == "local" and not device.runner:
        flags = _host_flags()
        if "avx512f" in flags:
            return 512
        if "avx2" in flags or "avx" in flags:
            return 256
    for word, bits in (("avx512", 512), ("avx2", 256), ("avx", 256), ("sve", 256), ("rvv", 256), ("neon", 128),
                       ("scalar", 32)):
        if word in feats:
            return bits
    return 512      # unknown: the widest common vector unit, so an honest kernel is never flagged


def flops_per_cycle(device: Device) -> float:
    """Peak f32 FLOPs per cycle of one core: lanes x 2 (FMA) x FMA pipes."""
    return vector_bits(device) / 32 * 2 * FMA_PIPES


def peak_gflops(device: Device, dtype: str = "f32") -> float:
    given = getattr(device, "peak_gflops", 0) or 0
    if given:
        return float(given) * dtype_factor(device, dtype)
    return threads_allowed(device) * flops_per_cycle(device) * CLOCK_CEILING_GHZ * dtype_factor(device, dtype)


def dtype_factor(device: Device, dtype: str) -> float:
    """Peak operations per cycle of dtype over f32 vector FMA, from the device's features (host:
    /proc/cpuinfo): Intel AMX tiles 16x (bf16, fp16) and 32x (int8); otherwise the dot-product
    and matrix instructions of the vector unit (AVX512-FP16/BF16/VNNI, Arm bf16/i8mm, RVV Zvfh),
    counted generously: the check rejects impossible figures, it does not grade good ones."""
    if dtype == "f32":
        return 1.0
    flags = {f.lower() for f in device.features}
    if not device.emulated and device.transport == "local" and not device.runner:
        flags |= set(_host_flags())
    amx = {"f16": "amx_fp16", "bf16": "amx_bf16", "i8": "amx_int8"}.get(dtype)
    if amx in flags:
        return 32.0 if dtype == "i8" else 16.0
    return {"f16": 2.0, "bf16": 4.0, "i8": 8.0}.get(dtype, 1.0)


def peak_check(device: Device, trial: Trial) -> str:
    """'' if the trial's figure is physically possible on the device, else why not."""
    try:
        flops = get_op(trial.op, trial.dtype).flops(trial.shape)
    except ValueError:
        return ""
    if trial.emulated:
        if not trial.cycles:
            return ""
        per_cycle = flops / trial.cycles
        factor = dtype_factor(device, trial.dtype)
        limit = MODEL_MARGIN * threads_allowed(device) * flops_per_cycle(device) * factor
        if per_cycle > limit:
            return (f"{per_cycle:.1f} FLOP per modelled cycle is beyond {limit:.0f} ({MODEL_MARGIN:g}x the "
                    f"{vector_bits(device)}-bit vector FMA peak of {device.name}"
                    + (f", x{factor:g} for {trial.dtype}" if factor != 1 else "") + "): not a believable figure")
        return ""
    from harness.backends.cuda import device_sm, is_cuda
    if is_cuda(device):   # the GPU's SM count and clock from the driver's record (harness/backends/cuda/peak.py)
        from harness.backends.cuda import peak as gpu_peak
        return gpu_peak.check(device_sm(device) or "", trial.dtype, trial.gflops, trial.meta.get("gpu"), device.name)
    peak = peak_gflops(device, trial.dtype)
    if trial.gflops and trial.gflops > peak:
        factor = dtype_factor(device, trial.dtype)
        return (f"{trial.gflops:,.0f} GFLOP/s is beyond {device.name}'s physical peak of {peak:,.0f} "
                f"GFLOP/s ({threads_allowed(device)} core(s) x {flops_per_cycle(device):.0f} FLOP/cycle"
                + (f" x {factor:g} for {trial.dtype}" if factor != 1 else "") +
                f" x {CLOCK_CEILING_GHZ:g} GHz): not a believable figure")
    return ""


# ---- modelled cycles ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelOutcome:
    cycles: float | None = None
    name: str = ""
    error: str = ""
    meta: dict = field(default_factory=dict)


def modelled(ws, device: Device, blocks: bytes | None, regions: int) -> ModelOutcome:
    """Modelled cycles of one call from the QEMU plugin's block profile (harness.measure.model)."""
    if not blocks:
        return ModelOutcome(error="the QEMU plugin wrote no block profile")
    try:
        from harness.measure.model import model_from_blocks
    except ImportError as e:
        return ModelOutcome(error=f"the cycle model is not available: {e}")
    try:
        r = model_from_blocks(blocks, regions, device, cache_dir=ws.cache / "mca")
    except Exception as e:   # the model's failure is reported, never raised into the campaign
        return ModelOutcome(error=f"{type(e).__name__}: {e}")
    err = getattr(r, "error", "") or ""
    if err:
        return ModelOutcome(error=err)
    meta = {k: v for k, v in getattr(r, "__dict__", {}).items() if isinstance(v, (int, float, str))}
    return ModelOutcome(cycles=float(r.cycles_per_call), name=str(r.model), meta=meta)


# ---- comparisons -------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    """Speed of A over B: > 1 means A is faster. For time, median(B) / median(A) of paired
    samples; for modelled cycles, cycles(B) / cycles(A)."""

    ratio: float
    ci95: tuple[float, float] | None
    p_value: float | None
    metric: str
    n: int = 0
    against: str = ""
    note: str = ""

    @property
    def significant(self) -> bool:
        if self.metric == "modelled_cycles":
            return self.ratio != 1.0
        return self.ci95 is not None and (self.ci95[0] > 1.0 or self.ci95[1] < 1.0) and \
            (self.p_value is not None and self.p_value < 0.05)

    def to_json(self) -> dict:
        return {"against": self.against, "ratio": self.ratio, "ratio_ci95": list(self.ci95) if self.ci95 else None,
                "p_value": self.p_value, "metric": self.metric, "pairs": self.n, "note": self.note or None}

    @property
    def baseline_name(self) -> str:
        """Whom the ratio is against, as a user reads it ("OpenBLAS", "cuBLAS", a kernel file)."""
        return {"openblas": "OpenBLAS", "cublas": "cuBLAS", "cudnn": "cuDNN", "naive": "the naive loop",
                "": "OpenBLAS"}.get(self.against, self.against)

    def describe(self) -> str:
        if self.metric == "modelled_cycles":
            return f"{self.ratio:.2f}x (modelled cycles)"
        ci = f" [{self.ci95[0]:.3f}, {self.ci95[1]:.3f}]" if self.ci95 else ""
        return f"{self.ratio:.3f}x{ci} (paired time, p={self.p_value:.2g}, n={self.n})"


def modelled_ratio(a: Trial, b: Trial) -> Ratio | None:
    if not (a.cycles and b.cycles):
        return None
    return Ratio(b.cycles / a.cycles, None, None, "modelled_cycles", 1, b.kernel)


def paired_ratio(samples_a, samples_b, against: str = "", resamples: int = 2000, seed: int = 0) -> Ratio:
    """Ratio of medians median(B)/median(A) over paired samples with a paired bootstrap 95% CI
    (scipy.stats.bootstrap, BCa where it can, else percentile) and a Mann-Whitney U p."""
    a = np.asarray(samples_a, dtype=float)
    b = np.asarray(samples_b, dtype=float)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ratio = float(np.median(b) / np.median(a))
    if n < 3:
        return Ratio(ratio, None, None, "time", n, against, "too few pairs for a CI")

    def stat(x, y, axis=-1):
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    ci = None
    for method in ("BCa", "percentile"):
        try:
            res = sps.bootstrap((a, b), stat, paired=True, vectorized=True, n_resamples=resamples,
                                confidence_level=0.95, method=method, random_state=np.random.default_rng(seed))
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
            if math.isfinite(lo) and math.isfinite(hi):
                ci = (lo, hi)
                break
        except Exception:
            continue
    p = float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Ratio(ratio, ci, p, "time", n, against)


@dataclass
class PairedRun:
    ratio: Ratio | None
    status: Status
    error: str = ""
    samples_a: list[float] = field(default_factory=list)
    samples_b: list[float] = field(default_factory=list)
    rounds: int = 0
    wall_s: float = 0.0
    reached: bool = False


def paired(ws, device: Device, toolchain, transport, a, b, shape, *, target: float = 0.02,
           budget_s: float = 60.0, round_samples: int = 20, round_time_s: float = 2.0,
           max_rounds: int = 40, opts=None, op: Op | None = None) -> PairedRun:
    """Time kernel `a` against kernel `b` (harness.measure.runner.Kernel) interleaved in one driver until
    the ratio's 95% CI half-width is at most `target` of the ratio, or the budget is spent.
    Both kernels must already have passed the correctness gate (their own trials)."""
    from harness.measure import check
    from harness.measure.runner import MeasureOptions, build_kernel

    started = time.monotonic()
    op = op or default_op()
    from harness.backends.cuda import is_cuda
    if is_cuda(device):
        from harness.backends.cuda.ops import cuda_op
        op = cuda_op(op)
    b_res = build_kernel(ws, toolchain, a, partner=b, op=op, threads=threads_allowed(device), device=device)
    if b_res.status is not Status.OK:
        return PairedRun(None, b_res.status, f"paired build: {b_res.error}")
    opts = opts or MeasureOptions.for_device(device)
    out = PairedRun(None, Status.OK)
    base = secrets.randbits(62)
    from harness.ops.inputs import splitmix_one
    while out.rounds < max_rounds:
        case = op.timing_case(shape, splitmix_one(base, 9, out.rounds))
        tol = op.timing_tolerance(case)
        req = op.request("pair", [case], tol=tol, threads=threads_allowed(device), warmup=opts.warmup,
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
        recs = check.read_channel(run, want_plugin=False)
        if recs.error:
            out.status, out.error = Status.REJECTED, f"paired run: {recs.error}"
            return out
        rec = recs.driver
        crashed = check.worker_crash(rec, "paired run")
        if crashed:
            out.status, out.error = Status.CRASH, crashed
            return out
        if rec.get("verified") is not True:
            f = rec.get("failed") or {}
            who = a.label if f.get("kernel") == "a" else b.label
            out.status = Status.WRONG_ANSWER
            out.error = f"paired run: {who}: call {f.get('call')} of sample {f.get('sample')} was wrong: {f.get('why')}"
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
