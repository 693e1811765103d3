"""Built-in shape suites (`tensorop bench ... --suite NAME`).

paper-conv: the convolution layers of QiMeng-TensorOp's evaluation, (N,C,H,W)/(K,R,S) stride pad.
Full batches are hours of work under QEMU and minutes per layer on one host core, so the batch
is scaled: on emulated devices to 1 image (and `--scale` below 1 shrinks nothing further there),
on real devices by `--scale` (a fraction of the batch, at least 1 image); the scaling is printed
and recorded with each trial (its shape holds the batch actually run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    name: str
    op: str
    dtype: str
    shapes: tuple[tuple[int, ...], ...]
    description: str = ""


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
    return [(scaled_batch(s[0], scale, emulated), *s[1:]) for s in suite.shapes]


def describe_scaling(suite: Suite, scale: float, emulated: bool) -> str:
    if emulated:
        return f"suite {suite.name}: batch scaled to 1 image on emulated devices (layers of batch " \
               f"{'/'.join(str(n) for n in sorted({s[0] for s in suite.shapes}))})"
    if scale >= 1:
        return f"suite {suite.name}: full batches"
    pairs = sorted({(s[0], scaled_batch(s[0], scale, False)) for s in suite.shapes})
    return f"suite {suite.name}: batch scaled by {scale:g} (" + ", ".join(f"{a} -> {b}" for a, b in pairs) + ")"
