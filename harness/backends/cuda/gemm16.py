"""GEMM with f16 inputs and f32 accumulation (the CUDA driver's -DTENSOROP_F16 build): inputs,
float64 reference and the full gate's verdict, NumPy side.

Inputs are harness/ops/gemm.py's f32 matrices rounded to nearest even f16 (the driver's
__float2half_rn), so they are bit-identical on both sides. The reference is the float64 product
of those f16 values: what remains is the kernel's accumulation error, so the bound is the f32
one with a margin (tensor cores' f32 accumulation is not IEEE round-to-nearest); a kernel that
accumulates in f16 (~1e-3) fails it.
"""
from __future__ import annotations

import math

import numpy as np

from harness.ops import gemm

SYMBOL = "tensorop_gemm_f16_cuda"


def matrix_f16(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    return gemm.matrix(seed, stream, rows, cols).astype(np.float16)


def rel_error_bound(K: int) -> float:
    return 1e-4 * max(1.0, math.sqrt(K / 4096))


def timing_tolerance(K: int) -> float:
    return 3.0 * rel_error_bound(K)


def reference(case: gemm.GemmCase) -> np.ndarray:
    A = matrix_f16(case.seed, 0, case.M, case.K).astype(np.float64)
    B = matrix_f16(case.seed, 1, case.K, case.N).astype(np.float64)
    return A @ B


def verify(case: gemm.GemmCase, raw: bytes) -> gemm.Verdict:
    """gemm.verify's checks (size, ldc padding, unwritten elements, NaN, relative Frobenius error)
    against the f16-input reference and bound."""
    return gemm.verify(case, raw, ref=reference(case), bound=rel_error_bound(case.K))
