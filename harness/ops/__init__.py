"""The operator registry: one module per operator (harness/ops/<op>.py) defines an `Op`
(harness/ops/base.py) and is listed here. Everything else asks `get_op(name, dtype)`.

Adding an operator: a module with its Op subclass (ABI, shape syntax, FLOPs, cases, inputs
bit-identical to its driver, float64 reference, tolerance, baselines), its timing driver in
harness/driver/ (on top of driver_core.h), its baselines in baselines/, its templates in
harness/generate/, and one line in _MODULES below.
"""
from __future__ import annotations

import importlib

from harness.ops.base import Op, Verdict  # noqa: F401

_MODULES = ("gemm", "gemm_lowp", "conv2d", "gemm_batched")
_REGISTRY: dict[tuple[str, str], Op] = {}
ALIASES = {"matmul": "gemm", "sgemm": "gemm", "hgemm": "gemm", "igemm": "gemm", "conv": "conv2d", "convolution": "conv2d",
           "bgemm": "gemm_batched", "batched_gemm": "gemm_batched", "gemm-batched": "gemm_batched"}


class UnknownOp(ValueError):
    pass


def _load() -> dict[tuple[str, str], Op]:
    if not _REGISTRY:
        for m in _MODULES:
            mod = importlib.import_module(f"{__name__}.{m}")
            for op in getattr(mod, "OPS", None) or (mod.OP,):
                _REGISTRY[(op.name, op.dtype)] = op
    return _REGISTRY


def all_ops() -> list[Op]:
    return list(_load().values())


def names() -> list[str]:
    return sorted({k[0] for k in _load()})


def get_op(name: str = "gemm", dtype: str = "f32") -> Op:
    """The op for (name, dtype); UnknownOp names what is supported."""
    reg = _load()
    name = ALIASES.get(name.lower(), name.lower())
    dtype = dtype.lower()
    op = reg.get((name, dtype))
    if op is None:
        known = ", ".join(f"{n} {d}" for n, d in sorted(reg))
        raise UnknownOp(f"operator {name} {dtype} is not supported (supported: {known})")
    return op


def op_from_key(key: str) -> Op:
    name, _, dtype = key.partition("/")
    return get_op(name, dtype or "f32")



def default_op() -> Op:
    return get_op("gemm", "f32")
