"""Auto-tuning: one module per search strategy (Kernel Tuner's shape).

Each strategy module defines NAME, an options dataclass (a subclass of base.Options) and
`tune(space, evaluate, options=None, history=()) -> SearchResult`. The registry below finds
them by scanning harness/tune/strategies/ (nothing else lives there): adding a strategy is adding
one file.

    from harness.tune import get, names
    result = get("mcts").tune(space, evaluate, get("mcts").MCTSOptions(budget=60, seed=1))
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields
from types import ModuleType

from harness.tune.base import Evaluation, Options, Point, SearchResult   # noqa: F401  (the public records)
from harness.tune import strategies

_REGISTRY: dict[str, ModuleType] | None = None


def registry() -> dict[str, ModuleType]:
    """name -> strategy module, discovered once."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = {}
        for info in pkgutil.iter_modules(strategies.__path__):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{strategies.__name__}.{info.name}")
            if callable(getattr(mod, "tune", None)) and isinstance(getattr(mod, "NAME", None), str):
                reg[mod.NAME] = mod
        _REGISTRY = dict(sorted(reg.items()))
    return _REGISTRY


def names() -> list[str]:
    return list(registry())


def get(name: str) -> ModuleType:
    reg = registry()
    if name not in reg:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(reg)}")
    return reg[name]


def options_class(name: str) -> type[Options]:
    """The options dataclass declared beside strategy `name`."""
    mod = get(name)
    for v in vars(mod).values():
        if isinstance(v, type) and issubclass(v, Options) and v is not Options and v.__module__ == mod.__name__:
            return v
    return Options


def make_options(name: str, **kw) -> Options:
    """Options for strategy `name` from keyword arguments (unknown ones are ignored)."""
    cls = options_class(name)
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in kw.items() if k in known})
