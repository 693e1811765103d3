"""The `cuda` primitive set for `tensorop generate`: hardware factors, expert candidates, the LLM's
system message and first message, and the compile-only report of a generated kernel.

- Hardware factors come from devices.yaml's SM and harness/backends/cuda/arch.py (no probe: a CPU probe
  means nothing on a GPU; the SM count and clock arrive with each driver record).
- Expert candidates are the verified kernel files in kernels/cuda/, per (op, dtype), best first:
  GEMM f16 mma.sync m16n8k16 + ldmatrix (sm_80+), then WMMA (sm_70+); GEMM f32 the FFMA register
  tiling; conv2d f32 the implicit GEMM. The mma.sync and FFMA kernels declare their tile sizes
  as tunable #defines (harness/generate/templates/cuda.py): the plan proposes their points, and the
  tuning stage searches them on the one objective (paired time against cuBLAS/cuDNN).
- The LLM writes one .cu file to the op's CUDA ABI with harness/generate/cuda_prompts.py's hints (and the
  sm_90a WGMMA + TMA sketch), starting from the expert kernel.
- Nothing can run without a GPU: `generate` then stops at the first candidate whose run fails
  with "CUDA is not available" (a device_error naming the device) and gives the compile-only
  report of the candidates (registers, spills, occupancy, tensor-core instructions), as
  `generate --build-only` does without trying to run.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from harness.config.devices import Device
from harness.core.workspace import PACKAGE_DIR
from harness.backends.cuda.arch import limits
from harness.generate.cuda_prompts import prompt_section
from harness.generate.templates import cuda as templates
from harness.generate.factors import HardwareFactors
from harness.generate.guards import malformed
from harness.backends.compile_only import build_one

KERNEL_DIR = PACKAGE_DIR.parent / "kernels" / "cuda"
KERNEL_NAME = "kernel.cu"


PROTOTYPES = {
    "tensorop_gemm_f32_cuda": 'extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, '
                              'const float *B, int ldb, float *C, int ldc, cudaStream_t stream);',
    "tensorop_gemm_f16_cuda": 'extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, '
                              'const __half *B, int ldb, float *C, int ldc, cudaStream_t stream);',
    "tensorop_conv2d_f32_cuda": 'extern "C" void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, '
                                'int S, int stride, int pad, const float *x, const float *w, float *y, '
                                'cudaStream_t stream);',
}


def factors(device: Device):
    """HardwareFactors of a CUDA device (primitive set `cuda`)."""
    sm = device.sm or "sm_80"
    lim = limits(sm)
    keys = [f"tensor cores: {lim.tensor_cores}" if lim else "tensor cores: unknown SM",
            "FFMA (f32)", "ldmatrix, cp.async (sm_80+)"]
    return HardwareFactors(device=device.name, arch=sm, primitive_set="cuda", vector_bits=0, vregs=255, lanes=32,
                           caches={"smem_per_sm": lim.smem_per_sm} if lim else {}, cores=0, threads=1,
                           cpu=f"NVIDIA GPU {sm}" + (f" (compute capability {lim.cc})" if lim else ""),
                           key_instructions=tuple(keys), emulated=False,
                           source="devices.yaml (CUDA: the SM's limits from harness/backends/cuda/arch.py; no probe)",
                           features=tuple(device.features))


def system_message(op) -> str:
    proto = PROTOTYPES.get(op.symbol, op.symbol)
    return ("You are an expert in high-performance GPU computing writing CUDA kernels for NVIDIA tensor cores.\n"
            f"Write one CUDA C++ (.cu) file implementing exactly this ABI ({op.name} {op.dtype}):\n\n    {proto}\n\n"
            "Device pointers, row-major (conv2d: x NCHW, w KCRS, y NKPQ, zero padding). Enqueue your kernels on "
            "`stream` and return: no synchronisation, no other streams, no events, no cudaMalloc (cudaMallocAsync "
            "on the stream for a workspace), no cuBLAS/cuDNN or other libraries, no printf/malloc/assert on the "
            "device, no I/O or system calls on the host. Any sizes >= 1 and any leading dimensions must work. "
            "Kernels in an anonymous namespace with __launch_bounds__. Answer with a short plan, then the "
            "complete file in ONE ```cuda code block.")


def first_message(task, hw) -> str:
    op = task.the_op
    sm = hw.arch
    cands = templates.plan(op.name, op.dtype, sm, 1)
    sketch = f"A reference kernel (correct; improve on it):\n```cuda\n{cands[0][1]}```\n" if cands else ""
    return (f"{op.llm_task_line(task.shape)}, on device {hw.device} ({sm}).\n\n{prompt_section(sm)}\n\n"
            f"{sketch}Write a faster kernel.")


def check_source(code: str, op) -> str:
    """Early feedback on an LLM answer (the object gate is the defence): '' or why not."""
    bare, why = malformed(code)
    if why:
        return why
    if op.symbol not in bare:
        return f"the code does not define {op.symbol}: " + PROTOTYPES.get(op.symbol, "")
    return ""


def compile_report(lab, device: Device, source: str, name: str = KERNEL_NAME) -> tuple[str, list[str]]:
    """(status, lines) of the compile-only report of one generated kernel (harness/backends/compile_only.py)."""
    with tempfile.TemporaryDirectory(dir=lab.ws.scratch if lab.ws.scratch.is_dir() else None) as d:
        p = Path(d) / name
        p.write_text(source)
        rec = build_one(lab, device, p)
    lines = rec.pop("_lines", [])
    if rec.get("error"):
        lines = [rec["error"], *lines]
    warnings = (rec.get("report") or {}).get("warnings", [])
    return rec["status"], [*lines, *(f"warning: {w}" for w in warnings if not any(w in l for l in lines))]
