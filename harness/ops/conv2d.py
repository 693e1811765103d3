"""Conv2d f32: NCHW input, K x C x R x S weights, symmetric zero padding, no bias.

ABI (fixed: user kernels are written to it):
    void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,
                             int stride, int pad, const float *x, const float *w, float *y);
    y is N x K x P x Q, P = (H + 2*pad - R)/stride + 1, Q = (W + 2*pad - S)/stride + 1.

Shape (a 9-tuple everywhere: N, C, H, W, K, R, S, stride, pad), written `NxCxHxW,KxRxS,s1,p1`
(stride and pad default to 1 and 0; `KxR` means R = S), and in prompts
"conv2d 1x64x56x56 k64 r3 s1 p1" (k: output channels, r: filter size, s: stride, p: pad).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from harness.ops.base import DRIVER_DIR, Op, Verdict
from harness.ops.inputs import POISON_BITS, first_index, rel_frobenius, uniform

SYNTAX = "NxCxHxW,KxRxS,sSTRIDE,pPAD (e.g. 1x64x56x56,64x3x3,s1,p1)"
# The gate's extra cases: odd sizes, stride 1 and 2, pad 0, 1 and 3, R = S = 1, 3, 7, batches > 1.
AWKWARD = (
    (2, 3, 11, 13, 5, 3, 3, 1, 1),
    (1, 4, 17, 15, 6, 7, 7, 2, 3),
    (2, 5, 9, 10, 3, 1, 1, 2, 0),
    (3, 3, 9, 8, 4, 3, 3, 2, 0),
    (2, 2, 7, 5, 3, 1, 1, 1, 1),
    (1, 3, 9, 11, 2, 7, 7, 1, 0),
)


@dataclass(frozen=True)
class ConvCase:
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: int
    pad: int
    seed: int

    @property
    def P(self) -> int:
        return (self.H + 2 * self.pad - self.R) // self.stride + 1

    @property
    def Q(self) -> int:
        return (self.W + 2 * self.pad - self.S) // self.stride + 1

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.N, self.C, self.H, self.W, self.K, self.R, self.S, self.stride, self.pad)

    def arg(self) -> str:
        return ",".join(map(str, (*self.shape, self.seed)))

    def describe(self) -> str:
        return (f"case N={self.N} C={self.C} H={self.H} W={self.W} K={self.K} R={self.R} S={self.S} "
                f"stride={self.stride} pad={self.pad} (P={self.P} Q={self.Q})")


def out_hw(shape) -> tuple[int, int]:
    N, C, H, W, K, R, S, st, pad = shape
    return (H + 2 * pad - R) // st + 1, (W + 2 * pad - S) // st + 1


def validate(shape, text: str = "") -> tuple[int, ...]:
    shape = tuple(int(v) for v in shape)
    N, C, H, W, K, R, S, st, pad = shape
    what = f"bad conv2d shape {text or shape!r}"
    if min(N, C, H, W, K, R, S, st) < 1 or pad < 0:
        raise ValueError(f"{what}: sizes and stride must be >= 1, pad >= 0")
    if H + 2 * pad < R or W + 2 * pad < S:
        raise ValueError(f"{what}: the filter {R}x{S} is larger than the padded input {H + 2 * pad}x{W + 2 * pad}")
    if max(shape) > 1 << 16:
        raise ValueError(f"{what}: a size is out of range")
    return shape


def parse_shape(text: str) -> tuple[int, ...]:
    """'NxCxHxW,KxRxS,s1,p1' -> (N, C, H, W, K, R, S, stride, pad); 'KxR' means R = S."""
    t = text.strip().lower().replace("×", "x").replace(" ", "")
    parts = [p for p in re.split(r"[,;/]", t) if p]
    try:
        if len(parts) < 2:
            raise ValueError
        nchw = [int(v) for v in parts[0].split("x")]
        krs = [int(v) for v in parts[1].split("x")]
        if len(nchw) != 4 or len(krs) not in (2, 3):
            raise ValueError
        if len(krs) == 2:
            krs.append(krs[1])
        stride, pad = 1, 0
        for p in parts[2:]:
            m = re.fullmatch(r"(s|stride=?)(\d+)|(p|pad=?)(\d+)", p)
            if not m:
                raise ValueError
            if m.group(2):
                stride = int(m.group(2))
            else:
                pad = int(m.group(4))
    except ValueError:
        raise ValueError(f"bad conv2d shape {text!r}: expected {SYNTAX}") from None
    return validate((*nchw, *krs, stride, pad), text)


def parse_prompt_shape(text: str) -> tuple[int, ...] | None:
    """The shape in a prompt: the --shape syntax, or 'NxCxHxW k64 r3 [s1] [p1]' (also 'k=64',
    'kernel 3', 'stride 2', 'pad 1', 'r3x3')."""
    t = text.lower().replace("×", "x")
    m = re.search(r"\d+\s*x\s*\d+\s*x\s*\d+\s*x\s*\d+\s*,\s*\d+\s*x\s*\d+(?:\s*x\s*\d+)?(?:\s*,\s*[sp]\d+)*", t)
    if m:
        return parse_shape(m.group(0))
    m = re.search(r"(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)", t)
    if not m:
        return None
    nchw = [int(v) for v in m.groups()]
    rest = t[:m.start()] + " " + t[m.end():]

    def num(pat):
        mm = re.search(r"(?<![a-z0-9])(?:" + pat + r")\s*=?\s*(\d+)(?:\s*x\s*(\d+))?", rest)
        return (int(mm.group(1)), int(mm.group(2)) if mm.group(2) else None) if mm else (None, None)
    k, _ = num(r"k|out_channels|filters")
    r, s2 = num(r"r|kernel|filter|ksize")
    stride, _ = num(r"s|stride")
    pad, _ = num(r"p|pad|padding")
    if k is None or r is None:
        raise ValueError(f"conv2d in {text!r} needs the output channels and the filter size, e.g. "
                         "'conv2d 1x64x56x56 k64 r3 s1 p1'")
    return validate((*nchw, k, r, s2 or r, stride or 1, pad or 0), text)


def flops(shape) -> float:
    N, C, H, W, K, R, S, st, pad = shape
    P, Q = out_hw(shape)
    return 2.0 * N * K * P * Q * C * R * S


def inputs(case: ConvCase) -> tuple[np.ndarray, np.ndarray]:
    x = uniform(case.seed, 0, case.N * case.C * case.H * case.W).reshape(case.N, case.C, case.H, case.W)
    w = uniform(case.seed, 1, case.K * case.C * case.R * case.S).reshape(case.K, case.C, case.R, case.S)
    return x, w


def conv_reference(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """float64 convolution (cross-correlation, as in every DL framework) by patches per image."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - S) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.empty((N, K, P, Q))
    for n in range(N):
        win = np.lib.stride_tricks.sliding_window_view(xp[n], (R, S), axis=(1, 2))
        win = win[:, : (P - 1) * stride + 1: stride, : (Q - 1) * stride + 1: stride]     # C, P, Q, R, S
        y[n] = np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4]))
    return y


def reference(case: ConvCase) -> np.ndarray:
    x, w = inputs(case)
    return conv_reference(x, w, case.stride, case.pad)


def verify(case: ConvCase, raw: bytes) -> Verdict:
    shape = (case.N, case.K, case.P, case.Q)
    expected = int(np.prod(shape)) * 4
    if len(raw) != expected:
        return Verdict(False, math.inf, f"output has {len(raw)} bytes, expected {expected}")
    buf = np.frombuffer(raw, dtype=np.float32).reshape(shape)
    bits = buf.view(np.uint32)
    where = case.describe()
    untouched = bits == POISON_BITS
    if untouched.any():
        n, k, p, q = first_index(untouched)
        imgs = sorted({int(i) for i in np.argwhere(untouched.any(axis=(1, 2, 3))).ravel()})
        return Verdict(False, math.inf, f"{where}: {int(untouched.sum())} elements of y never written, first "
                                        f"y[{n}][{k}][{p}][{q}] (images {imgs[:8]})")
    y = buf.astype(np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        n, k, p, q = first_index(bad)
        return Verdict(False, math.inf, f"{where}: {int(bad.sum())} non-finite elements, first y[{n}][{k}][{p}][{q}]")
    ref = reference(case)
    rel = rel_frobenius(y, ref)
    bound = OP.rel_error_bound(case)
    if rel <= bound:
        return Verdict(True, rel)
    absd = np.abs(y - ref)
    n, k, p, q = np.unravel_index(int(np.argmax(absd)), absd.shape)
    per_img = [rel_frobenius(y[i], ref[i]) for i in range(case.N)]
    wrong_imgs = [i for i, e in enumerate(per_img) if e > bound]
    border = "" if case.pad == 0 else (" (on the padded border)" if p < case.pad or q < case.pad or
                                       p >= case.P - case.pad or q >= case.Q - case.pad else "")
    return Verdict(False, rel, f"{where}: relative Frobenius error {rel:.3e} > bound {bound:.1e}; max abs error "
                               f"{absd[n, k, p, q]:.3e} at y[{n}][{k}][{p}][{q}]{border} (got {y[n, k, p, q]:.6g}, "
                               f"expected {ref[n, k, p, q]:.6g}); wrong images {wrong_imgs[:8]} of {case.N}")


class Conv2dOp(Op):
    name, dtype, symbol = "conv2d", "f32", "tensorop_conv2d_f32"
    prototype = ("void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S,\n"
                 "                         int stride, int pad, const float *x, const float *w, float *y)")
    doc = ("y = conv(x, w): x is N x C x H x W (NCHW), w is K x C x R x S, zero padding `pad` on all sides, "
           "y is N x K x P x Q with P = (H + 2*pad - R)/stride + 1, Q = (W + 2*pad - S)/stride + 1; "
           "y is overwritten")
    driver_source = DRIVER_DIR / "conv2d_driver.c"
    shape_syntax = SYNTAX
    shape_example = "1x64x56x56,64x3x3,s1,p1"
    default_shape = "1x16x28x28,16x3x3,s1,p1"
    prompt_words = ("conv2d", "conv", "convolution", "conv2")
    baselines = {"naive": ("naive_conv2d.c", None), "openblas": ("openblas_conv2d.c", "openblas"),
                 "onednn": ("onednn_conv2d.c", "onednn")}
    seeds_needed = 1 + len(AWKWARD)

    def parse_shape(self, text):
        return parse_shape(text)

    def parse_prompt_shape(self, text):
        return parse_prompt_shape(text)

    def shape_text(self, shape):
        N, C, H, W, K, R, S, st, pad = shape
        return f"{N}x{C}x{H}x{W}-{K}x{R}x{S}-s{st}-p{pad}"

    def describe_shape(self, shape):
        N, C, H, W, K, R, S, st, pad = shape
        P, Q = out_hw(shape)
        return f"N={N} C={C} H={H} W={W} K={K} R={R} S={S} stride={st} pad={pad} (output {N}x{K}x{P}x{Q})"

    def flops(self, shape):
        return flops(shape)

    def io_elements(self, shape):
        N, C, H, W, K, R, S, st, pad = shape
        P, Q = out_hw(shape)
        return N * C * H * W + K * C * R * S + 2 * N * K * P * Q + 2 * N * P * Q * C * R * S

    def depth(self, shape):
        N, C, H, W, K, R, S, st, pad = shape
        return C * R * S

    def check_cases(self, shape, seeds):
        it = iter(seeds)
        return [ConvCase(*validate(shape), next(it))] + [ConvCase(*s, next(it)) for s in AWKWARD]

    def timing_case(self, shape, seed):
        return ConvCase(*validate(shape), seed)

    def case_shape(self, case):
        return case.shape

    # the module's functions are the op's: inputs bit-identical to the driver's, the float64
    # reference, the full check of one output buffer
    inputs = staticmethod(inputs)
    reference = staticmethod(reference)
    verify = staticmethod(verify)


OP = Conv2dOp()
