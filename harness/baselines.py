"""Baselines measured through the same driver, gate and statistics as any kernel:
OpenBLAS 0.3.34 (the scipy-openblas32 wheel of the device's architecture, fetched by setup
into .cache/openblas/<arch>/) and a naive C triple loop."""
from __future__ import annotations

from pathlib import Path

from .trial import Kernel
from .workspace import PACKAGE_DIR, Workspace

BASELINE_DIR = PACKAGE_DIR.parent / "baselines"
OPENBLAS_LIB = "libscipy_openblas.so"
NAMES = ("openblas", "naive")


class BaselineUnavailable(Exception):
    pass


def openblas_lib(ws: Workspace, arch: str) -> Path:
    return ws.cache / "openblas" / arch / OPENBLAS_LIB


def baseline_kernel(ws: Workspace, name: str, arch: str) -> Kernel:
    if name == "naive":
        return Kernel.from_file(BASELINE_DIR / "naive_gemm.c", label="naive")
    if name == "openblas":
        lib = openblas_lib(ws, arch)
        if not lib.is_file():
            raise BaselineUnavailable(f"OpenBLAS for {arch} not found at {lib}; run `make setup`")
        src = BASELINE_DIR / "openblas_gemm.c"
        return Kernel(label="openblas", source=src.read_bytes(), name=src.name, allow_blas=True, libs=(lib,))
    raise BaselineUnavailable(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")
