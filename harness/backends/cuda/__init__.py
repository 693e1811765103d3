"""NVIDIA GPUs (issue 11, parts 4-5): the `cuda` primitive set and device kind.

A CUDA device is a devices.yaml entry whose features name `cuda` and the SM it has (`sm_90a`,
`sm_80`, ...) and whose toolchain is `cuda-nvcc`. Kernels (.cu, the ABI of
harness/driver/tensorop_cuda.h) are compiled with nvcc on this host for that SM, their objects
gated (harness/backends/cuda/gate.py), inspected (registers, spills, shared memory, occupancy estimate,
tensor-core instructions in the SASS: harness/backends/cuda/inspect.py) and linked with the CUDA timing
driver of the ABI they define (harness/driver/cuda_gemm_driver.cu, cuda_conv2d_driver.cu; the
table is harness/backends/cuda/build.py ABIS). All of that works without a GPU.
"""
from __future__ import annotations

from harness.backends.cuda.backend import CudaBackend  # noqa: E402

__all__ = ["CudaBackend"]
