"""GEMM with low-precision inputs: f16 and bf16 in, f32 accumulation and out; int8 in, exact
int32 out. Same row-major ABI, shapes, cases and driver as GEMM f32 (harness/ops/gemm.py); the
driver is gemm_driver.c built with -DTENSOROP_GEMM_<DTYPE>.

ABIs (tensorop.h; the 16-bit types are bit patterns, a kernel may declare them _Float16/__fp16):
    void tensorop_gemm_f16 (int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb, float *C, int ldc);
    void tensorop_gemm_bf16(int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb, float *C, int ldc);
    void tensorop_gemm_i8  (int M, int N, int K, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C, int ldc);

Inputs: f16 and bf16 are GEMM f32's inputs rounded to nearest even (NumPy's float16 cast; bf16
by the same bit arithmetic as tensorop_lowp.h), int8 the top byte of each element's splitmix64
(inputs.small_ints). The reference is the float64 product of exactly those values, so what
remains is the kernel's accumulation: f16 x f16 and bf16 x bf16 products are exact in f32, the
bound is f32's (a kernel accumulating in f16 or bf16, ~1e-3, fails), and int8 must be exact.

Baselines: the naive triple loop, and OpenBLAS 0.3.34's SGEMM on the inputs widened to f32 (the
scipy-openblas build has no SBGEMM/SHGEMM or integer GEMM; that is what an OpenBLAS user runs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.ops.base import Verdict
from harness.ops.gemm import GemmCase, GemmOp, verify as verify_gemm
from harness.ops.inputs import U, first_index, splitmix, uniform


def f16_matrix(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    return uniform(seed, stream, rows * cols).astype(np.float16).reshape(rows, cols)


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> the nearest-even bfloat16 value, as float32 (tensorop_f32_to_bf16)."""
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return (r & 0xFFFFFFFF).astype(np.uint32).view(np.float32)


def bf16_bits(x: np.ndarray) -> np.ndarray:
    return (bf16_round(x).view(np.uint32) >> 16).astype(np.uint16)


def bf16_matrix(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    return bf16_round(uniform(seed, stream, rows * cols)).reshape(rows, cols)


def i8_matrix(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    return ((splitmix(seed, stream, rows * cols) >> U(56)).astype(np.int64) - 128).astype(np.int8).reshape(rows, cols)


@dataclass(frozen=True)
class DtypeSpec:
    name: str
    c_in: str           # the C storage type of A and B
    c_out: str          # of C
    matrix: object      # (seed, stream, rows, cols) -> the values, exactly
    exact: bool
    doc: str


SPECS = {
    "f16": DtypeSpec("f16", "uint16_t", "float", f16_matrix, False,
                     "IEEE binary16 inputs (bit patterns), f32 accumulation, f32 C"),
    "bf16": DtypeSpec("bf16", "uint16_t", "float", bf16_matrix, False,
                      "bfloat16 inputs (bit patterns), f32 accumulation, f32 C"),
    "i8": DtypeSpec("i8", "int8_t", "int32_t", i8_matrix, True,
                    "int8 inputs, exact int32 accumulation, int32 C"),
}


class LowpGemmOp(GemmOp):
    """GEMM with dtype f16, bf16 or i8 (see the module docstring)."""

    def __init__(self, dtype: str):
        spec = SPECS[dtype]
        self.spec = spec
        self.dtype = dtype
        self.symbol = f"tensorop_gemm_{dtype}"
        pad = " " * (len(self.symbol) + 6)
        self.prototype = (f"void {self.symbol}(int M, int N, int K, const {spec.c_in} *A, int lda,\n"
                          f"{pad}const {spec.c_in} *B, int ldb, {spec.c_out} *C, int ldc)")
        self.doc = (f"C = A * B; row-major; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N); "
                    f"{spec.doc}; C is overwritten")
        self.driver_defines = (f"-DTENSOROP_GEMM_{dtype.upper()}",)
        self.baselines = {"naive": ("naive_gemm_lowp.c", None), "openblas": ("openblas_gemm_lowp.c", "openblas"),
                          "mkl": ("mkl_gemm_lowp.c", "mkl")}
        self.baseline_defines = (f"TENSOROP_GEMM_{dtype.upper()}",)
        self.prompt_words = {"f16": ("hgemm", "f16 gemm", "fp16 gemm", "half gemm"),
                             "bf16": ("bf16 gemm", "bfloat16 gemm"),
                             "i8": ("int8 gemm", "i8 gemm", "igemm", "int8 matmul")}[dtype]

    def inputs(self, case: GemmCase):
        m = self.spec.matrix
        return m(case.seed, 0, case.M, case.K), m(case.seed, 1, case.K, case.N)

    def reference(self, case: GemmCase):
        A, B = self.inputs(case)
        return A.astype(np.float64) @ B.astype(np.float64)

    def rel_error_bound(self, case):
        return 0.0 if self.spec.exact else super().rel_error_bound(case)

    def timing_tolerance(self, case):
        return 0.0 if self.spec.exact else super().timing_tolerance(case)

    def verify(self, case: GemmCase, raw: bytes) -> Verdict:
        if not self.spec.exact:
            return verify_gemm(case, raw, ref=self.reference(case), bound=self.rel_error_bound(case))
        v = verify_gemm(case, raw, ref=self.reference(case), bound=0.0, out_dtype=np.int32)
        if v.ok or not math.isfinite(v.rel_err):
            return v
        got = np.frombuffer(raw, dtype=np.int32).reshape(case.M, case.ldc)[:, : case.N].astype(np.int64)
        want = self.reference(case).astype(np.int64)
        wrong = got != want
        i, j = first_index(wrong)
        return Verdict(False, v.rel_err, f"case M={case.M} N={case.N} K={case.K} lda={case.lda} ldb={case.ldb} "
                                         f"ldc={case.ldc}: {int(wrong.sum())} of {wrong.size} int32 results wrong "
                                         f"(int8 products must be exact), first C[{i}][{j}] = {got[i, j]}, "
                                         f"expected {want[i, j]}")


OPS = tuple(LowpGemmOp(d) for d in SPECS)
