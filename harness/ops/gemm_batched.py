"""Batched GEMM f32: `batch` independent row-major products with leading dimensions and strides.

ABI:
    void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                                   const float *B, int ldb, long strideB, float *C, int ldc, long strideC);
    for b < batch: C + b*strideC (M x N, ldc) = (A + b*strideA) (M x K, lda) * (B + b*strideB) (K x N, ldb)

Shape: BATCHxMxNxK (a 4-tuple). Inputs: element (b, i, j) of A is element b*M*K + i*K + j of
stream 0, of B stream 1 (gemm_batched_driver.c); ld and stride gaps hold a NaN, C is poisoned
(gaps included) and must stay so outside the M x N matrices.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from harness.ops.base import DRIVER_DIR, Op, Verdict, f32_bound
from harness.ops.inputs import POISON_BITS, first_index, rel_frobenius, uniform


@dataclass(frozen=True)
class BatchedCase:
    batch: int
    M: int
    N: int
    K: int
    lda: int
    ldb: int
    ldc: int
    sA: int
    sB: int
    sC: int
    seed: int

    def arg(self) -> str:
        return ",".join(map(str, (self.batch, self.M, self.N, self.K, self.lda, self.ldb, self.ldc,
                                  self.sA, self.sB, self.sC, self.seed)))

    @classmethod
    def tight(cls, batch, M, N, K, seed):
        return cls(batch, M, N, K, K, N, N, M * K, K * N, M * N, seed)

    @classmethod
    def padded(cls, batch, M, N, K, seed):
        lda, ldb, ldc = K + 3, N + 5, N + 7
        return cls(batch, M, N, K, lda, ldb, ldc, M * lda + 11, K * ldb + 13, M * ldc + 17, seed)


def parse_shape(text: str) -> tuple[int, ...]:
    t = text.strip().lower().replace("×", "x").replace(" ", "")
    try:
        dims = tuple(int(v) for v in re.split(r"[x,]", t))
    except ValueError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise ValueError(f"bad batched GEMM shape {text!r}: expected BATCHxMxNxK, e.g. 8x64x64x64")
    return dims


class GemmBatchedOp(Op):
    name, dtype, symbol = "gemm_batched", "f32", "tensorop_gemm_batched_f32"
    prototype = ("void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,\n"
                 "                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC)")
    doc = ("for b < batch: C_b = A_b * B_b, row-major, A_b = A + b*strideA (M x K, lda >= K), "
           "B_b = B + b*strideB (K x N, ldb >= N), C_b = C + b*strideC (M x N, ldc >= N); C_b is overwritten")
    driver_source = DRIVER_DIR / "gemm_batched_driver.c"
    shape_syntax = "BATCHxMxNxK"
    shape_example = "8x64x64x64"
    default_shape = "8x64x64x64"
    prompt_words = ("batched gemm", "batched matmul", "bgemm", "gemm_batched", "batch gemm")
    baselines = {"naive": ("naive_gemm_batched.c", None), "openblas": ("openblas_gemm_batched.c", "openblas"),
                 "mkl": ("mkl_gemm_batched.c", "mkl")}
    seeds_needed = 4

    def parse_shape(self, text):
        return parse_shape(text)

    def parse_prompt_shape(self, text):
        m = re.search(r"(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)", text.lower())
        return parse_shape("x".join(m.groups())) if m else None

    def flops(self, shape):
        b, M, N, K = shape
        return 2.0 * b * M * N * K

    def io_elements(self, shape):
        b, M, N, K = shape
        return b * (M * K + K * N + 2 * M * N + 2 * M * K)

    def depth(self, shape):
        return shape[3]

    def check_cases(self, shape, seeds):
        it = iter(seeds)
        return [BatchedCase.tight(*shape, next(it)), BatchedCase.padded(*shape, next(it)),
                BatchedCase.padded(3, 17, 29, 13, next(it)), BatchedCase.tight(5, 3, 7, 2, next(it))]

    def timing_case(self, shape, seed):
        return BatchedCase.tight(*shape, seed)

    def case_shape(self, case):
        return (case.batch, case.M, case.N, case.K)

    def inputs(self, c: BatchedCase):
        A = uniform(c.seed, 0, c.batch * c.M * c.K).reshape(c.batch, c.M, c.K)
        B = uniform(c.seed, 1, c.batch * c.K * c.N).reshape(c.batch, c.K, c.N)
        return A, B

    def reference(self, c: BatchedCase):
        A, B = self.inputs(c)
        return A.astype(np.float64) @ B.astype(np.float64)

    def verify(self, c: BatchedCase, raw: bytes) -> Verdict:
        words = c.batch * c.sC
        if len(raw) != words * 4:
            return Verdict(False, math.inf, f"output has {len(raw)} bytes, expected {words * 4}")
        flat = np.frombuffer(raw, dtype=np.float32)
        bits = flat.view(np.uint32)
        where = (f"case batch={c.batch} M={c.M} N={c.N} K={c.K} lda={c.lda} ldb={c.ldb} ldc={c.ldc} "
                 f"strides {c.sA}/{c.sB}/{c.sC}")
        inside = np.zeros(words, dtype=bool)
        idx = (np.arange(c.batch)[:, None, None] * c.sC + np.arange(c.M)[None, :, None] * c.ldc
               + np.arange(c.N)[None, None, :])
        inside[idx.ravel()] = True
        outside = (~inside) & (bits != POISON_BITS)
        if outside.any():
            return Verdict(False, math.inf, f"{where}: wrote outside the C matrices (element {first_index(outside)[0]} "
                                            "of C, in an ldc or stride gap)")
        got_bits = bits[idx]
        if (got_bits == POISON_BITS).any():
            b, i, j = first_index(got_bits == POISON_BITS)
            return Verdict(False, math.inf, f"{where}: {int((got_bits == POISON_BITS).sum())} elements never written, "
                                            f"first C[{b}][{i}][{j}]")
        got = flat[idx].astype(np.float64)
        if not np.isfinite(got).all():
            b, i, j = first_index(~np.isfinite(got))
            return Verdict(False, math.inf, f"{where}: non-finite element C[{b}][{i}][{j}]")
        ref = self.reference(c)
        rel = rel_frobenius(got, ref)
        bound = f32_bound(c.K)
        if rel <= bound:
            return Verdict(True, rel)
        per = [rel_frobenius(got[b], ref[b]) for b in range(c.batch)]
        return Verdict(False, rel, f"{where}: relative Frobenius error {rel:.3e} > bound {bound:.1e}; wrong matrices "
                                   f"{[b for b, e in enumerate(per) if e > bound][:8]} of {c.batch}")


OP = GemmBatchedOp()
