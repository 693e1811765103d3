"""A GPU's physical peak, for the peak check (harness/measure/compare.py peak_check): a figure beyond it
is `suspicious`.

peak = per-SM throughput of the dtype's fastest honest instruction (FLOP per clock per SM, dense)
       x SM count x clock.

The SM count and clock are what the CUDA driver's record says (cudaGetDeviceProperties and
cudaDeviceGetAttribute on the GPU that ran, `"gpu"` in every record). The kernel's host code
runs in the driver's process, so those figures are not trusted to raise the ceiling: each is
capped by the largest shipping part of that SM (MAX_SMS, MAX_CLOCK_GHZ); a record without them
gets the caps. A forged record can only lower the peak (and flag its own kernel).

Per-SM figures (dense, no sparsity; the NVIDIA architecture whitepapers' peak TFLOPS divided by
SMs x boost clock), counted generously, so the check rejects impossible figures and never an
honest kernel:
- f32: the larger of FFMA (2 x FP32 lanes) and 3xTF32 on tensor cores (TF32 rate / 3: an f32
  kernel may split its inputs into TF32 pieces and stay within the f32 error bound);
- f16 inputs with f32 accumulation: the HMMA/HGMMA rate at f16 accumulation (GeForce parts halve
  it at f32 accumulation; the larger figure is the ceiling).
"""
from __future__ import annotations

from dataclasses import dataclass

MARGIN = 1.10    # CUDA-event timing resolution and boost above the reported clock


@dataclass(frozen=True)
class SMPeak:
    ffma: int            # f32 FLOP/clock/SM (2 x FP32 lanes)
    tf32: int            # tensor-core TF32 FLOP/clock/SM (0: none)
    f16: int             # tensor-core f16 FLOP/clock/SM
    max_sms: int         # the largest part of this SM
    max_clock_ghz: float

    def per_sm(self, dtype: str) -> int:
        if dtype == "f16":
            return max(self.f16, self.ffma * 2)
        return max(self.ffma, self.tf32 // 3)


PEAKS = {
    "sm_70": SMPeak(128, 0, 1024, 84, 1.60),        # V100 (80 SMs enabled of 84)
    "sm_75": SMPeak(128, 0, 1024, 72, 1.82),        # T4, RTX 20xx
    "sm_80": SMPeak(128, 1024, 2048, 108, 1.41),     # A100
    "sm_86": SMPeak(256, 512, 1024, 84, 1.86),      # RTX 30xx, A10, A40
    "sm_87": SMPeak(256, 512, 1024, 16, 1.30),      # Jetson Orin
    "sm_89": SMPeak(256, 512, 1024, 144, 2.64),     # RTX 40xx, L4, L40S
    "sm_90": SMPeak(256, 2048, 4096, 132, 1.98),    # H100, H200, GH200
    "sm_100": SMPeak(256, 4096, 8192, 148, 2.10),   # B200
    "sm_120": SMPeak(256, 512, 1024, 192, 2.90),    # RTX 50xx
}


def sm_peak(sm: str) -> SMPeak | None:
    base = sm.rstrip("af")
    return PEAKS.get(base)


def peak_gflops(sm: str, dtype: str, gpu: dict | None) -> tuple[float, str] | None:
    """(GFLOP/s ceiling, how it was computed) for `sm` running `dtype`; None for an unknown SM."""
    p = sm_peak(sm)
    if p is None:
        return None
    gpu = gpu if isinstance(gpu, dict) else {}
    try:
        sms = int(gpu.get("sms") or 0)
        clock = float(gpu.get("clock_khz") or 0) / 1e6
    except (TypeError, ValueError):
        sms, clock = 0, 0.0
    sms = min(sms, p.max_sms) if sms > 0 else p.max_sms
    clock = min(clock, p.max_clock_ghz) if clock > 0 else p.max_clock_ghz
    per_sm = p.per_sm(dtype)
    peak = per_sm * sms * clock
    how = (f"{sms} SMs x {per_sm} FLOP/clock/SM ({dtype} on {sm}) x {clock:.2f} GHz"
           + (f" ({gpu.get('name')})" if gpu.get("name") else " (no GPU properties in the record: the largest part)"))
    return peak, how


def check(sm: str, dtype: str, gflops: float | None, gpu: dict | None, device_name: str) -> str:
    """'' if the figure is physically possible, else why not."""
    got = peak_gflops(sm, dtype, gpu)
    if got is None or not gflops:
        return ""
    peak, how = got
    if gflops > peak * MARGIN:
        return (f"{gflops:,.0f} GFLOP/s is beyond {device_name}'s physical peak of {peak:,.0f} GFLOP/s ({how}, "
                f"+{100 * (MARGIN - 1):.0f}%): not a believable figure")
    return ""
