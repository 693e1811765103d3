"""Built-in shape suites (`tensorop bench ... --suite NAME`).

paper-conv: the convolution layers of QiMeng-TensorOp's evaluation, (N,C,H,W)/(K,R,S) stride pad.
Full batches are hours of work under QEMU and minutes per layer on one host core, so the batch
is scaled: on emulated devices to 1 image (and `--scale` below 1 shrinks nothing further there),
on real devices by `--scale` (a fraction of the batch, at least 1 image); the scaling is printed
and recorded with each trial (its shape holds the batch actually run).

llama: the projection GEMMs of LLM inference, M tokens (1 = decoding, 16 = a small batch, 128 =
prefill chunk) x N outputs x K inputs, for Llama-7B (hidden 4096, MLP 11008: q/k/v/o 4096x4096,
gate/up 4096->11008, down 11008->4096) and Llama-3-70B (hidden 8192, MLP 28672, grouped-query
attention with 8 KV heads of 128: q/o 8192x8192, k/v 8192->1024, gate/up 8192->28672, down
28672->8192). Any GEMM dtype (`--dtype f16|bf16|i8` runs the weights in low precision). On
emulated devices the suite runs Llama-7B's three shapes at M = 1 (a 70B layer is tens of GFLOP:
hours under QEMU); that choice is printed like the conv batch scaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    name: str
    op: str
    dtype: str                                  # the default dtype
    shapes: tuple[tuple[int, ...], ...]
    description: str = ""
    dtypes: tuple[str, ...] = ()                # dtypes it may run with (default: only `dtype`)
    emulated_shapes: tuple[tuple[int, ...], ...] = ()   # replaces the batch scaling on emulated devices

    def allows(self, dtype: str) -> bool:
        return dtype in (self.dtypes or (self.dtype,))


def _llama(models: dict[str, tuple[tuple[int, int], ...]], tokens=(1, 16, 128)) -> tuple[tuple[int, int, int], ...]:
    """(M, N, K) for every token count and every distinct (N, K) projection, model by model."""
    out: list[tuple[int, int, int]] = []
    for projections in models.values():
        for m in tokens:
            out += [(m, n, k) for n, k in projections if (m, n, k) not in out]
    return tuple(out)


LLAMA_PROJECTIONS = {
    # (N, K): outputs x inputs of each weight matrix
    "llama-7b": ((4096, 4096), (11008, 4096), (4096, 11008)),
    "llama-3-70b": ((8192, 8192), (1024, 8192), (28672, 8192), (8192, 28672)),
}


SUITES = {
    "paper-conv": Suite("paper-conv", "conv2d", "f32", (
        (64, 3, 224, 224, 64, 7, 7, 2, 3),
        (64, 64, 56, 56, 64, 1, 1, 1, 0),
        (64, 64, 56, 56, 64, 3, 3, 1, 1),
        (64, 1024, 14, 14, 256, 1, 1, 1, 0),
        (64, 128, 56, 56, 128, 3, 3, 1, 1),
        (32, 64, 112, 112, 128, 3, 3, 1, 1),
        (32, 512, 14, 14, 512, 3, 3, 1, 1),
    ), "QiMeng-TensorOp's convolution layers (ResNet/VGG-style), batch scaled"),
    "llama": Suite("llama", "gemm", "f32", _llama(LLAMA_PROJECTIONS),
                   "Llama-7B and Llama-3-70B projection GEMMs at M = 1, 16, 128 (MxNxK)",
                   dtypes=("f32", "f16", "bf16", "i8"),
                   emulated_shapes=tuple((1, n, k) for n, k in LLAMA_PROJECTIONS["llama-7b"])),
}


class UnknownSuite(ValueError):
    pass


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise UnknownSuite(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]


def scaled_batch(n: int, scale: float, emulated: bool) -> int:
    """The batch run for a layer of batch n: 1 on emulated devices, else ceil(n * scale) >= 1."""
    if emulated:
        return 1
    return max(1, min(n, math.ceil(n * scale)))


def scaled_shapes(suite: Suite, scale: float, emulated: bool) -> list[tuple[int, ...]]:
    if suite.op == "gemm":
        return list(suite.emulated_shapes if emulated and suite.emulated_shapes else suite.shapes)
    return [(scaled_batch(s[0], scale, emulated), *s[1:]) for s in suite.shapes]


def describe_scaling(suite: Suite, scale: float, emulated: bool) -> str:
    if suite.op == "gemm":
        shapes = scaled_shapes(suite, scale, emulated)
        which = "emulated devices" if emulated else "real devices"
        return f"suite {suite.name} on {which}: {len(shapes)} shapes (MxNxK) " + \
            ", ".join("x".join(map(str, s)) for s in shapes)
    if emulated:
        return f"suite {suite.name}: batch scaled to 1 image on emulated devices (layers of batch " \
               f"{'/'.join(str(n) for n in sorted({s[0] for s in suite.shapes}))})"
    if scale >= 1:
        return f"suite {suite.name}: full batches"
    pairs = sorted({(s[0], scaled_batch(s[0], scale, False)) for s in suite.shapes})
    return f"suite {suite.name}: batch scaled by {scale:g} (" + ", ".join(f"{a} -> {b}" for a, b in pairs) + ")"
