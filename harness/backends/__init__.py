"""Backends: one per kind of device (harness/backends/base.py says what a backend answers).

    cpu    harness/backends/cpu/    C kernels: the host toolchain or a cross toolchain, the object
                                    gate on the linked driver, OpenBLAS and naive baselines
    cuda   harness/backends/cuda/   .cu kernels for NVIDIA GPUs: nvcc for the device's SM, the CUDA
                                    object gate, cuBLAS/cuDNN baselines, the GPU's peak

`backend_for(device)` chooses once per device; nothing above this floor branches on the kind.
"""
from __future__ import annotations

from harness.backends.base import Backend, BaselineUnavailable
from harness.backends.cpu import CpuBackend
from harness.backends.cuda import CudaBackend
from harness.config.devices import Device
from harness.core.records import Kernel
from harness.core.workspace import Workspace
from harness.ops import Op, default_op

_CPU, _CUDA = CpuBackend(), CudaBackend()
BASELINE_NAMES = tuple(dict.fromkeys((*_CPU.baseline_names, *_CUDA.baseline_names)))


def backend_for(device: Device) -> Backend:
    return _CUDA if device.cuda else _CPU


def device_baseline(ws: Workspace, name: str, device: Device, op: Op | None = None) -> Kernel:
    """Baseline `name` (openblas, naive; on CUDA devices vendor, cublas, cudnn) for the device."""
    return backend_for(device).baseline(ws, name, device, op or default_op())


__all__ = ["Backend", "BaselineUnavailable", "BASELINE_NAMES", "backend_for", "device_baseline"]
