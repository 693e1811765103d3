"""The CUDA backend (harness/backends/base.py): .cu kernels for NVIDIA GPUs."""
from __future__ import annotations

from pathlib import Path

from harness.backends.base import Backend
from harness.backends.cuda import baselines, failures, peak
from harness.backends.cuda.build import build_cuda
from harness.backends.cuda.ops import build_for_trial, cuda_op
from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.core.records import BuildResult, Kernel, RunResult, Status, Trial
from harness.core.workspace import Workspace
from harness.ops import Op


class CudaBackend(Backend):
    name = "cuda"
    kernel_file = "kernel.cu"
    baseline_names = baselines.CUDA_NAMES

    def op(self, op: Op) -> Op:
        return cuda_op(op)

    def build(self, ws: Workspace, device: Device, toolchain: Toolchain, kernel: Kernel, op: Op, *,
              partner: Kernel | None = None, extra_cflags: tuple[str, ...] = (), threads: int = 1) -> BuildResult:
        return build_for_trial(ws, device, toolchain, kernel, op, partner, extra_cflags)

    def compile_only(self, ws: Workspace, device: Device, toolchain: Toolchain, path: Path, *,
                     threads: int | None = None, dynamic_smem: int = 0, relax: tuple[str, ...] = (),
                     cflags: tuple[str, ...] = ()) -> dict:
        b = build_cuda(path.read_bytes(), path.name, device, toolchain, ws.builds, link=True, relax=relax,
                       threads=threads, dynamic_smem=dynamic_smem, extra_cflags=cflags)
        return {"status": b.result.status.value, "error": b.result.error, "sm": b.sm, "op": b.op, "dtype": b.dtype,
                "report": b.report.to_json() if b.report else None, "log": b.result.log,
                "executable": str(b.result.artifact.executable) if b.result.artifact else None,
                "_lines": b.report.lines() if b.report else []}

    def build_key(self, device: Device) -> tuple:
        return (device.sm,)                     # a CUDA build is per SM

    def classify_failure(self, run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
        return failures.classify(run, device, phase)

    def peak_check(self, device: Device, trial: Trial) -> str:
        # the GPU's SM count and clock from the driver's record (peak.py)
        return peak.check(device.sm or "", trial.dtype, trial.gflops, trial.meta.get("gpu"), device.name)

    def baseline(self, ws: Workspace, name: str, device: Device, op: Op) -> Kernel:
        return baselines.device_baseline(ws, name, device, op)

    def describe(self, device: Device) -> str:
        return device.sm or "unknown SM"
