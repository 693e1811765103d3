"""Baselines measured through the same driver, gate and statistics as any kernel:
OpenBLAS 0.3.34 (the scipy-openblas32 wheel of the device's architecture, fetched by setup
into .cache/openblas/<arch>/) and a naive C triple loop; on CUDA devices the vendor library
per (op, dtype), CUDA_BASELINES: cuBLAS for GEMM, cuDNN for conv2d."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.ops import Op, default_op
from harness.measure.runner import Kernel
from harness.core.workspace import PACKAGE_DIR, Workspace

BASELINE_DIR = PACKAGE_DIR.parent / "baselines"
OPENBLAS_LIB = "libscipy_openblas.so"
NAMES = ("openblas", "naive")


class BaselineUnavailable(Exception):
    pass


def openblas_lib(ws: Workspace, arch: str) -> Path:
    return ws.cache / "openblas" / arch / OPENBLAS_LIB


def baseline_kernel(ws: Workspace, name: str, arch: str, op: Op | None = None) -> Kernel:
    """The op's baseline `name` (Op.baselines: a C file in baselines/, and whether it links OpenBLAS)."""
    op = op or default_op()
    if name not in op.baselines:
        raise BaselineUnavailable(f"no baseline {name!r} for {op.name} {op.dtype}; known: "
                                  f"{', '.join(op.baselines) or 'none'}")
    src, blas = op.baseline_path(name)
    source = "".join(f"#define {m} 1\n" for m in op.baseline_defines).encode() + src.read_bytes()
    if not blas:
        return Kernel(label=name, source=source, name=src.name)
    lib = openblas_lib(ws, arch)
    if not lib.is_file():
        raise BaselineUnavailable(f"OpenBLAS for {arch} not found at {lib}; run `make setup`")
    return Kernel(label=name, source=source, name=src.name, allow_blas=True, libs=(lib,))


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
    from harness.backends.cuda import tools
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


def device_baseline(ws: Workspace, name: str, device, op: Op | None = None) -> Kernel:
    """Baseline `name` for `device`: on a CPU device baseline_kernel; on a CUDA device the vendor
    library of the op (CUDA_BASELINES), asked for as `vendor`, its own name (cublas, cudnn) or
    `openblas` (the vendor library plays OpenBLAS's part there); `naive` has no CUDA version."""
    from harness.backends.cuda import is_cuda
    op = op or default_op()
    if not is_cuda(device):
        return baseline_kernel(ws, name, device.arch, op)
    bl = CUDA_BASELINES.get((op.name, op.dtype))
    if name == "naive" or bl is None or (name in ("cublas", "cudnn") and name != bl.name) or \
            name not in (*CUDA_NAMES, "openblas"):
        known = ", ".join(f"{b.name} for {o} {d}" for (o, d), b in CUDA_BASELINES.items())
        raise BaselineUnavailable(f"{device.name} is a CUDA device: no baseline {name!r} for {op.name} {op.dtype} "
                                  f"there; its baselines are the vendor libraries ({known}; `vendor` names the "
                                  "op's one)")
    return cuda_baseline_kernel(ws, op)
