"""The trial hook for CUDA devices: what harness/measure/runner.py, the campaign and the paired
comparison (harness/measure/compare.py paired) do differently when the device is a GPU.

- the build goes through harness/backends/cuda/build.py (nvcc for the device's SM, the CUDA object gate,
  the CUDA driver of the ABI the object defines), paired builds included (`partner`: another
  kernel, or the vendor baseline of harness/measure/baselines.py CUDA_BASELINES);
- the op is the CPU op of the same (name, dtype) seen through `cuda_op`: the same shapes,
  cases, inputs (the CUDA drivers generate them bit-identical to NumPy: GEMM f32 and f16 from
  harness/ops/gemm.py and gemm_lowp.py, conv2d from conv2d.py) and float64 reference, with the
  CUDA ABI symbol and, for f16, the tensor-core bound of harness/backends/cuda/gemm16.py (tensor cores'
  f32 accumulation is not IEEE round-to-nearest);
- a kernel whose object defines another ABI than the task's op is rejected, naming both.
Everything else (the correctness gate, verified timing, statistics, the store) is the shared path.
"""
from __future__ import annotations

from pathlib import Path

from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.ops import Op, default_op
from harness.core.records import BuildResult, Status
from harness.backends.cuda import gemm16
from harness.backends.cuda.build import ABIS, CudaAbi, CudaUnit, build_cuda


def abi_for(op: Op) -> CudaAbi | None:
    """The CUDA ABI row of the op's (name, dtype), None when the op has no CUDA driver."""
    for a in ABIS:
        if (a.op, a.dtype) == (op.name, op.dtype):
            return a
    return None


def supported() -> str:
    return ", ".join(f"{a.op} {a.dtype}" for a in ABIS)


def cuda_op(op: Op | None) -> Op:
    """The op as a CUDA device runs it (see the module docstring); the op itself when it has no
    CUDA ABI (the build then says so) or is already the CUDA variant."""
    op = op or default_op()
    abi = abi_for(op)
    if abi is None or op.backend == "cuda":
        return op
    return op.variant("cuda", symbol=abi.symbol, driver_source=abi.driver_source, driver_defines=abi.defines,
                      error_bound=gemm16.rel_error_bound if op.dtype == "f16" else None)


def build_for_trial(ws, device: Device, tc: Toolchain, kernel, op: Op | None = None, partner=None,
                    extra_cflags: tuple[str, ...] = ()) -> BuildResult:
    """harness.measure.runner.build_kernel for a CUDA device: the linked driver (paired with `partner`,
    a harness.measure.runner.Kernel, when given) as the trial's BuildResult."""
    op = op or default_op()
    abi = abi_for(op)
    if abi is None:
        return BuildResult(Status.REJECTED, "", None, f"{op.name} {op.dtype} has no CUDA driver; CUDA devices run "
                                                      f"{supported()}")
    unit = None
    if partner is not None:
        unit = CudaUnit(source=partner.source, name=partner.name, relax=partner.relax, allow_blas=partner.allow_blas,
                        libs=tuple(str(p) for p in partner.libs), cflags=tuple(partner.cflags))
    b = build_cuda(kernel.source, kernel.name, device, tc, ws.builds, link=True, relax=kernel.relax,
                   allow_blas=kernel.allow_blas, libs=tuple(str(p) for p in kernel.libs),
                   extra_cflags=(*extra_cflags, *kernel.cflags), partner=unit)
    r = b.result
    if b.op and (b.op, b.dtype) != (op.name, op.dtype):
        found = next((a.symbol for a in ABIS if (a.op, a.dtype) == (b.op, b.dtype)), "?")
        msg = (f"{Path(kernel.name).name} defines {found} ({b.op} {b.dtype}), but the task is {op.name} {op.dtype} "
               f"({abi.symbol}); run it as --op {b.op} --dtype {b.dtype}")
        return BuildResult(Status.REJECTED, r.log + msg + "\n", None, msg)
    return r
