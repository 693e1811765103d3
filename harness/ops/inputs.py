"""Inputs bit-identical to the C drivers' (harness/driver/*.c): splitmix64 of each element's
logical index, mapped to a float in [-1, 1) with 23 bits, and the helpers every op's check uses."""
from __future__ import annotations

import math

import numpy as np

U = np.uint64
POISON_BITS = np.uint32(0x7FC0DEAD)     # outputs before the kernel runs: "never written"


def splitmix(seed: int, stream: int, n: int) -> np.ndarray:
    idx = np.arange(1, n + 1, dtype=U)
    with np.errstate(over="ignore"):
        z = U(seed) + U(stream) * U(0x632BE59BD9B4E019) + idx * U(0x9E3779B97F4A7C15)
        z = (z ^ (z >> U(30))) * U(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U(27))) * U(0x94D049BB133111EB)
    return z ^ (z >> U(31))


def splitmix_one(seed: int, stream: int, idx: int) -> int:
    m = (1 << 64) - 1
    z = (seed + stream * 0x632BE59BD9B4E019 + (idx + 1) * 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def uniform(seed: int, stream: int, n: int) -> np.ndarray:
    """n float32 values in [-1, 1) (the drivers' uniform_pm1)."""
    k = (splitmix(seed, stream, n) >> U(40)).astype(np.int64) - 8388608
    return k.astype(np.float32) * np.float32(1.0 / 8388608.0)


def small_ints(seed: int, stream: int, n: int) -> np.ndarray:
    """n int8 values in [-128, 127] (the drivers' int8 inputs: the top 8 bits)."""
    return ((splitmix(seed, stream, n) >> U(56)).astype(np.int64) - 128).astype(np.int8)


def rel_frobenius(got: np.ndarray, ref: np.ndarray) -> float:
    diff = got - ref
    denom = np.linalg.norm(ref)
    return float(np.linalg.norm(diff) / denom) if denom > 0 else float(np.linalg.norm(diff))


def ranges(values, limit: int = 6) -> str:
    out, start, prev = [], None, None
    for v in map(int, values):
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = v
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out[:limit]) + (" ..." if len(out) > limit else "")


def first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(x) for x in np.argwhere(mask)[0])


__all__ = ["U", "POISON_BITS", "splitmix", "splitmix_one", "uniform", "small_ints", "rel_frobenius", "ranges",
           "first_index", "math"]
