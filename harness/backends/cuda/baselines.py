"""A CUDA device's baselines: the vendor library per (op, dtype), CUDA_BASELINES (cuBLAS for
GEMM, cuDNN for conv2d), built from baselines/*.cu (trusted: the object gate skipped) with the
library's headers and linked against it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import BaselineUnavailable
from harness.backends.cuda import tools
from harness.core.records import Kernel
from harness.core.workspace import PACKAGE_DIR, Workspace
from harness.ops import Op

BASELINE_DIR = PACKAGE_DIR.parent / "baselines"

# ---- CUDA devices: the vendor library per (op, dtype) ------------------------------------------
@dataclass(frozen=True)
class CudaBaseline:
    """A vendor-library baseline for CUDA devices: a .cu file in baselines/ implementing the
    op's CUDA ABI with the library (trusted: built with the object gate skipped)."""
    name: str                        # "cublas" | "cudnn"
    file: str
    library: str                     # harness/backends/cuda/tools.py LIBRARIES: headers and the library to link
    defines: tuple[str, ...] = ()    # macros set above the source (one file, several dtypes)


CUDA_BASELINES = {
    ("gemm", "f32"): CudaBaseline("cublas", "cublas_gemm.cu", "cublas"),
    ("gemm", "f16"): CudaBaseline("cublas", "cublas_gemm.cu", "cublas", ("TENSOROP_F16",)),
    ("conv2d", "f32"): CudaBaseline("cudnn", "cudnn_conv2d.cu", "cudnn"),
}


@dataclass(frozen=True)
class CudaBaselineSource:
    """What harness/backends/cuda/build.py needs to build one: build_cuda(source, name, ..., allow_blas=True,
    libs=libs, extra_cflags=cflags)."""
    label: str
    source: bytes
    name: str
    cflags: tuple[str, ...]
    libs: tuple[str, ...]


def cuda_baseline(ws: Workspace, op: str, dtype: str, *, link: bool = True) -> CudaBaselineSource:
    """The CUDA baseline of (op, dtype): cuBLAS for GEMM, cuDNN for conv2d. Its headers come from a
    CUDA install, the full wheels or setup's header fetch (.cache/cuda-headers/); linking needs the
    library itself (cuDNN's small loader, which setup fetches, is enough to link)."""
    bl = CUDA_BASELINES.get((op, dtype))
    if bl is None:
        raise BaselineUnavailable(f"no CUDA baseline for {op} {dtype}; known: "
                                  f"{', '.join(f'{o} {d}' for o, d in CUDA_BASELINES)}")
    inc = tools.library_include(bl.library, ws.cache)
    if inc is None:
        raise BaselineUnavailable(f"{bl.name}: {tools.LIBRARIES[bl.library][0]} not found; {tools.HEADERS_HINT}")
    libs: tuple[str, ...] = ()
    if link:
        lib = tools.library_lib(bl.library, ws.cache)
        if lib is None:
            raise BaselineUnavailable(f"{bl.name}: {tools.LIBRARIES[bl.library][1]} not found to link; "
                                      f"{tools.HEADERS_HINT}")
        libs = (str(lib),)
    path = BASELINE_DIR / bl.file
    source = "".join(f"#define {m} 1\n" for m in bl.defines).encode() + path.read_bytes()
    return CudaBaselineSource(label=bl.name, source=source, name=path.name, cflags=(f"-I{inc}",), libs=libs)


CUDA_NAMES = ("vendor", "cublas", "cudnn")


def cuda_baseline_kernel(ws: Workspace, op: Op, *, link: bool = True) -> Kernel:
    """The CUDA baseline of the op as a Kernel for the trial path (trusted: allow_blas; its
    library's include flag and shared library with it). BaselineUnavailable names what is missing."""
    b = cuda_baseline(ws, op.name, op.dtype, link=link)
    return Kernel(label=b.label, source=b.source, name=b.name, allow_blas=True, libs=tuple(Path(p) for p in b.libs),
                  cflags=b.cflags)


def device_baseline(ws: Workspace, name: str, device, op: Op) -> Kernel:
    """The vendor library of the op, asked for as `vendor`, its own name (cublas, cudnn) or
    `openblas` (the vendor library plays OpenBLAS's part there); `naive` has no CUDA version."""
    bl = CUDA_BASELINES.get((op.name, op.dtype))
    if name == "naive" or bl is None or (name in ("cublas", "cudnn") and name != bl.name) or \
            name not in (*CUDA_NAMES, "openblas"):
        known = ", ".join(f"{b.name} for {o} {d}" for (o, d), b in CUDA_BASELINES.items())
        raise BaselineUnavailable(f"{device.name} is a CUDA device: no baseline {name!r} for {op.name} {op.dtype} "
                                  f"there; its baselines are the vendor libraries ({known}; `vendor` names the "
                                  "op's one)")
    return cuda_baseline_kernel(ws, op)
