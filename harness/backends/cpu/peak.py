"""A CPU's physical ceiling: a figure beyond it is `suspicious` (docs/THREAT_MODEL.md).

A real CPU's ceiling is its FMA width x FMA pipes x the highest clock any core ships at (or
devices.yaml `peak_gflops`), times the cores the task allows, scaled for low-precision dtypes by
the matrix and dot-product units its features name; an emulated device's modelled figure may not
exceed MODEL_MARGIN x its vector FMA peak per cycle. (A GPU's: harness/backends/cuda/peak.py.)
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from harness.config.devices import Device
from harness.core.records import Trial
from harness.ops import get_op

# No shipping CPU core sustains more than this; a real device's ceiling is its FMA width x
# FMA pipes x this clock, unless devices.yaml gives `peak_gflops`.
CLOCK_CEILING_GHZ = 6.0
FMA_PIPES = 2
MODEL_MARGIN = 4.0          # modelled cycles: flops per cycle beyond this x the vector FMA peak


# ---- physical limits ---------------------------------------------------------------------
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
    if device.declared_vector_bits:
        return device.declared_vector_bits
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
    return device.threads_allowed * flops_per_cycle(device) * CLOCK_CEILING_GHZ * dtype_factor(device, dtype)


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
        limit = MODEL_MARGIN * device.threads_allowed * flops_per_cycle(device) * factor
        if per_cycle > limit:
            return (f"{per_cycle:.1f} FLOP per modelled cycle is beyond {limit:.0f} ({MODEL_MARGIN:g}x the "
                    f"{vector_bits(device)}-bit vector FMA peak of {device.name}"
                    + (f", x{factor:g} for {trial.dtype}" if factor != 1 else "") + "): not a believable figure")
        return ""
    peak = peak_gflops(device, trial.dtype)
    if trial.gflops and trial.gflops > peak:
        factor = dtype_factor(device, trial.dtype)
        return (f"{trial.gflops:,.0f} GFLOP/s is beyond {device.name}'s physical peak of {peak:,.0f} "
                f"GFLOP/s ({device.threads_allowed} core(s) x {flops_per_cycle(device):.0f} FLOP/cycle"
                + (f" x {factor:g} for {trial.dtype}" if factor != 1 else "") +
                f" x {CLOCK_CEILING_GHZ:g} GHz): not a believable figure")
    return ""


