"""GEMM f32: the ABI, the check cases, the inputs (bit-identical to the C driver's) and the
float64 reference used by the correctness gate.

ABI (row-major):
    void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                           const float *B, int ldb, float *C, int ldc);
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.core.workspace import PACKAGE_DIR
from harness.ops.base import Op, Verdict
from harness.ops.inputs import ranges, splitmix_one, uniform  # noqa: F401  (splitmix_one is part of this module's API)

NAME = "gemm"
DTYPE = "f32"
SYMBOL = "tensorop_gemm_f32"
DRIVER_SOURCE = PACKAGE_DIR / "driver" / "gemm_driver.c"
HEADER_DIR = PACKAGE_DIR / "driver"
POISON_BITS = np.uint32(0x7FC0DEAD)

# Shapes in the gate that are multiples of no sensible tile size (primes, tiny, crossing 256).
AWKWARD_TIGHT = (67, 43, 131)
AWKWARD_PADDED = (131, 97, 257)
TINY = (3, 5, 2)


@dataclass(frozen=True)
class GemmCase:
    M: int
    N: int
    K: int
    lda: int
    ldb: int
    ldc: int
    seed: int

    def arg(self) -> str:
        return f"{self.M},{self.N},{self.K},{self.lda},{self.ldb},{self.ldc},{self.seed}"

    @classmethod
    def tight(cls, M: int, N: int, K: int, seed: int) -> "GemmCase":
        return cls(M, N, K, K, N, N, seed)

    @classmethod
    def padded(cls, M: int, N: int, K: int, seed: int) -> "GemmCase":
        return cls(M, N, K, K + 3, N + 5, N + 7, seed)


def parse_shape(text: str) -> tuple[int, int, int]:
    """'256x256x256' or '256' (cube) or 'M=64,N=32,K=16' -> (M, N, K)."""
    t = text.strip().lower().replace("×", "x").replace("*", "x")
    try:
        if "=" in t:
            kv = dict(p.split("=") for p in t.replace(" ", "").split(","))
            dims = (int(kv["m"]), int(kv["n"]), int(kv["k"]))
        else:
            parts = [int(p) for p in t.split("x")]
            dims = tuple(parts * 3) if len(parts) == 1 else tuple(parts)
    except (ValueError, KeyError):
        raise ValueError(f"bad GEMM shape {text!r}: expected MxNxK, e.g. 256x256x256") from None
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"bad GEMM shape {text!r}: expected three positive sizes MxNxK")
    return dims  # type: ignore[return-value]


def flops(shape: tuple[int, ...]) -> float:
    M, N, K = shape
    return 2.0 * M * N * K


def rel_error_bound(K: int) -> float:
    """f32 kernels land near 1e-7 at small K and grow about with sqrt(K): 1e-5 up to K=4096."""
    return 1e-5 * max(1.0, math.sqrt(K / 4096))


def check_cases(shape: tuple[int, int, int], seeds: list[int], big_limit: float = 2.0**28) -> list[GemmCase]:
    """The gate's cases: the shape itself (tight), padded leading dimensions, awkward shapes,
    each with its own fresh seed. The padded copy of the shape is skipped above big_limit flops."""
    M, N, K = shape
    it = iter(seeds)
    cases = [GemmCase.tight(M, N, K, next(it))]
    if flops(shape) <= big_limit:
        cases.append(GemmCase.padded(M, N, K, next(it)))
    cases.append(GemmCase.tight(*AWKWARD_TIGHT, next(it)))
    cases.append(GemmCase.padded(*AWKWARD_PADDED, next(it)))
    cases.append(GemmCase.tight(*TINY, next(it)))
    return cases


SEEDS_NEEDED = 5


def timing_tolerance(K: int) -> float:
    """Bound for the driver's Freivalds check of timed calls: ||C x - A (B x)|| / ||A (B x)||
    estimates the relative Frobenius error from one random +-1 vector, so it gets a margin
    over the gate's bound; a kernel computing in bf16 (~3e-3) or skipping work still fails."""
    return 3.0 * rel_error_bound(K)


def request(mode: str, cases: list[GemmCase], **options) -> bytes:
    """The driver's request (its standard input): key=value lines."""
    lines = [f"mode={mode}", *(f"case={c.arg()}" for c in cases)]
    lines += [f"{k}={v}" for k, v in options.items() if v is not None]
    return ("\n".join(lines) + "\n").encode()


# ---- inputs, bit-identical to gemm_driver.c ---------------------------------------------

def matrix(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    """The rows x cols float32 matrix the driver generates for (seed, stream)."""
    return uniform(seed, stream, rows * cols).reshape(rows, cols)


def inputs(case: GemmCase) -> tuple[np.ndarray, np.ndarray]:
    return matrix(case.seed, 0, case.M, case.K), matrix(case.seed, 1, case.K, case.N)


def reference(case: GemmCase) -> np.ndarray:
    A, B = inputs(case)
    return A.astype(np.float64) @ B.astype(np.float64)


def verify(case: GemmCase, raw: bytes, *, ref: np.ndarray | None = None, bound: float | None = None,
           out_dtype=np.float32) -> Verdict:
    """Compare the driver's output buffer (M x ldc elements of out_dtype, padding included) with
    the float64 reference (default: this module's f32 one): relative Frobenius error within the
    bound (0 for an exact integer product), no NaN, padding of C untouched."""
    expected_bytes = case.M * case.ldc * 4
    if len(raw) != expected_bytes:
        return Verdict(False, math.inf, f"output has {len(raw)} bytes, expected {expected_bytes}")
    buf = np.frombuffer(raw, dtype=out_dtype).reshape(case.M, case.ldc)
    bits = buf.view(np.uint32)
    where = f"case M={case.M} N={case.N} K={case.K} lda={case.lda} ldb={case.ldb} ldc={case.ldc}"
    if case.ldc > case.N:
        touched = np.argwhere(bits[:, case.N:] != POISON_BITS)
        if touched.size:
            i, j = touched[0]
            return Verdict(False, math.inf,
                           f"{where}: wrote outside C: C[{i}][{case.N + j}] (column >= N={case.N}, in the ldc padding)")
    C = buf[:, : case.N].astype(np.float64)
    untouched = np.argwhere(bits[:, : case.N] == POISON_BITS)
    if untouched.size:
        i, j = untouched[0]
        rows = np.unique(untouched[:, 0])
        return Verdict(False, math.inf,
                       f"{where}: {len(untouched)} elements of C never written, first C[{i}][{j}]"
                       f" (rows {ranges(rows)})")
    nan = np.argwhere(~np.isfinite(C))
    if nan.size:
        i, j = nan[0]
        return Verdict(False, math.inf, f"{where}: {len(nan)} non-finite elements, first C[{i}][{j}] = {C[i, j]}")
    ref = reference(case) if ref is None else ref
    diff = C - ref
    denom = np.linalg.norm(ref)
    rel = float(np.linalg.norm(diff) / denom) if denom > 0 else float(np.linalg.norm(diff))
    bound = rel_error_bound(case.K) if bound is None else bound
    if rel <= bound:
        return Verdict(True, rel)
    absd = np.abs(diff)
    i, j = np.unravel_index(int(np.argmax(absd)), absd.shape)
    scale = float(np.max(np.abs(ref))) or 1.0
    bad = np.argwhere(absd > max(bound * scale * 10, 1e-6 * scale))
    first = f", first bad C[{bad[0][0]}][{bad[0][1]}]" if bad.size else ""
    return Verdict(False, rel,
                   f"{where}: relative Frobenius error {rel:.3e} > bound {bound:.1e}; max abs error "
                   f"{absd[i, j]:.3e} at C[{i}][{j}] (got {C[i, j]:.6g}, expected {ref[i, j]:.6g}){first}")


class GemmOp(Op):
    """GEMM f32 (row-major, C = A B) through the module functions above."""

    name, dtype, symbol = NAME, DTYPE, SYMBOL
    prototype = ("void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,\n"
                 "                       const float *B, int ldb, float *C, int ldc)")
    doc = "C = A * B; row-major; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N); C is overwritten"
    driver_source = DRIVER_SOURCE
    shape_syntax = "MxNxK (or one size for a cube)"
    shape_example = "256x256x256"
    default_shape = "256x256x256"
    prompt_words = ("gemm", "sgemm", "matmul", "matrix multiplication", "matrix multiply", "mm")
    baselines = {"naive": ("naive_gemm.c", None), "openblas": ("openblas_gemm.c", "openblas"), "mkl": ("mkl_gemm.c", "mkl")}
    seeds_needed = SEEDS_NEEDED

    def parse_shape(self, text):
        return parse_shape(text)

    def flops(self, shape):
        return flops(shape)

    def io_elements(self, shape):
        M, N, K = shape
        return M * K + K * N + 2 * M * N + 2 * M * K

    def depth(self, shape):
        return shape[2]

    def check_cases(self, shape, seeds):
        return check_cases(tuple(shape), seeds)

    def timing_case(self, shape, seed):
        return GemmCase.tight(*shape, seed)

    def case_shape(self, case):
        return (case.M, case.N, case.K)

    def rel_error_bound(self, case):
        return rel_error_bound(case.K)

    def timing_tolerance(self, case):
        return timing_tolerance(case.K)

    # the module's functions are the op's: inputs bit-identical to the driver's, the float64
    # reference, the full check of one output buffer
    inputs = staticmethod(inputs)
    reference = staticmethod(reference)
    verify = staticmethod(verify)

    def request(self, mode, cases, **options):
        return request(mode, cases, **options)


    def describe_shape(self, shape):
        M, N, K = shape
        return f"M={M} N={N} K={K}"


OP = GemmOp()
