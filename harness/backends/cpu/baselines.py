"""A CPU device's baselines, measured through the same driver, gate and statistics as any kernel:
OpenBLAS 0.3.34 (the scipy-openblas32 wheel of the device's architecture, fetched by setup into
.cache/openblas/<arch>/) and a naive C triple loop (the op's files in baselines/)."""
from __future__ import annotations

from pathlib import Path

from harness.backends.base import BaselineUnavailable
from harness.core.records import Kernel
from harness.core.workspace import Workspace
from harness.ops import Op, default_op

NAMES = ("openblas", "naive")

OPENBLAS_LIB = "libscipy_openblas.so"


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


