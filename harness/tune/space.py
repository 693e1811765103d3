"""A declared parameter space: named parameters with finite domains plus constraints.

Kernels (expert templates and LLM sketches alike) declare their tunable parameters in a
machine-readable block inside the C source:

    /* tensorop-params
    {"params": {"MR": [4, 6, 8], "KC": [128, 256]},
     "values": {"MR": 6, "KC": 256},
     "constraints": ["MR * NV <= 28"]}
    */

Constraints are Python expressions over the parameter names and the hardware context
(e.g. `vregs`, `lanes`); they are evaluated with no builtins. The tuner reads the block with
`ParamSpace.from_source` and enumerates the valid points.
"""
from __future__ import annotations

import ast
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

BLOCK_RE = re.compile(r"/\*\s*tensorop-params\s*(\{.*?\})\s*\*/", re.S)
_ALLOWED_NODES = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name, ast.Load,
                  ast.Constant, ast.And, ast.Or, ast.Not, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
                  ast.Mod, ast.Pow, ast.USub, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.IfExp)


class SpaceError(ValueError):
    pass


def _compile(expr: str):
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise SpaceError(f"constraint {expr!r}: {e.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise SpaceError(f"constraint {expr!r}: {type(node).__name__} is not allowed")
    return compile(tree, "<constraint>", "eval")


@dataclass
class ParamSpace:
    params: dict[str, list[Any]]
    constraints: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name, dom in self.params.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise SpaceError(f"bad parameter name {name!r}")
            if not isinstance(dom, list) or not dom:
                raise SpaceError(f"parameter {name}: domain must be a non-empty list")
        self._code = [(c, _compile(c)) for c in self.constraints]

    def violations(self, point: dict[str, Any], context: dict[str, Any] | None = None) -> list[str]:
        env = {**(context or {}), **point}
        bad = []
        for name, dom in self.params.items():
            if name in point and point[name] not in dom:
                bad.append(f"{name}={point[name]} not in {dom}")
        for text, code in self._code:
            try:
                if not eval(code, {"__builtins__": {}}, env):
                    bad.append(text)
            except Exception as e:  # an unknown name or a division by zero: the point is invalid
                bad.append(f"{text} ({e})")
        return bad

    def valid(self, point: dict[str, Any], context: dict[str, Any] | None = None) -> bool:
        return not self.violations(point, context)

    def points(self, context: dict[str, Any] | None = None) -> Iterable[dict[str, Any]]:
        names = list(self.params)
        for values in itertools.product(*(self.params[n] for n in names)):
            p = dict(zip(names, values))
            if self.valid(p, context):
                yield p

    def size(self) -> int:
        n = 1
        for d in self.params.values():
            n *= len(d)
        return n

    def to_json(self) -> dict:
        return {"params": self.params, "constraints": self.constraints, "values": self.defaults}

    def block(self, values: dict[str, Any] | None = None) -> str:
        """The C comment block that declares this space (with the chosen values)."""
        body = {"params": self.params, "values": values or self.defaults, "constraints": self.constraints}
        return "/* tensorop-params\n" + json.dumps(body) + "\n*/"

    @classmethod
    def from_json(cls, data: dict) -> "ParamSpace":
        if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
            raise SpaceError("the parameter block needs a 'params' object of name -> list of values")
        cons = data.get("constraints") or []
        if not isinstance(cons, list) or not all(isinstance(c, str) for c in cons):
            raise SpaceError("'constraints' must be a list of expression strings")
        vals = data.get("values") or {}
        return cls(dict(data["params"]), list(cons), dict(vals) if isinstance(vals, dict) else {})

    @classmethod
    def from_source(cls, source: str) -> "ParamSpace | None":
        m = BLOCK_RE.search(source)
        if not m:
            return None
        try:
            return cls.from_json(json.loads(m.group(1)))
        except json.JSONDecodeError as e:
            raise SpaceError(f"parameter block is not valid JSON: {e}") from None


def ranked(space: ParamSpace, cost: Callable[[dict], float], context: dict | None = None,
           limit: int | None = None) -> list[dict]:
    """Valid points, cheapest first by a model `cost` (the search's prior)."""
    pts = sorted(space.points(context), key=cost)
    return pts[:limit] if limit else pts
