"""A declared parameter space: named parameters with finite domains plus constraints.

Kernels (expert templates and LLM sketches alike) declare their tunable parameters in a
machine-readable block inside the C source:

    /* tensorop-params
    {"params": {"MR": [4, 6, 8], "KC": [128, 256]},
     "values": {"MR": 6, "KC": 256},
     "constraints": ["MR * NV <= 28"]}
    */

Constraints are arithmetic/boolean expressions over the parameter names and the hardware
context (e.g. `vregs`, `lanes`, `l1d`, `l2`). They are parsed once into a tree of Python
closures over a whitelist of AST nodes (no `eval`, no attribute access, no calls except
min/max/abs, bounded powers), so a hostile block can neither run code nor hang the tuner.

The space is never materialised: `points()` enumerates lazily, `sample()` draws valid points
by rejection (with a cap), `size()` is exact when the product is small and estimated from a
sample otherwise, and `neighbours()` lists the parameter moves of a point ("KC+64",
"MR 8 -> 12") that the search strategies expand.
"""
from __future__ import annotations

import ast
import itertools
import json
import operator
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

BLOCK_RE = re.compile(r"/\*\s*tensorop-params\s*(\{.*?\})\s*\*/", re.S)

Env = dict


class SpaceError(ValueError):
    pass


class _Unknown(Exception):
    """A constraint names something that is neither a parameter nor in the context."""


# ---------------------------------------------------------------------------------------
# the safe expression evaluator

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS = {"min": min, "max": max, "abs": abs}
MAX_POW_EXPONENT = 64


def _pow(a, b):
    if isinstance(b, (int, float)) and abs(b) > MAX_POW_EXPONENT:
        raise ValueError(f"exponent {b} too large")
    return operator.pow(a, b)


def _build(node: ast.AST, text: str) -> Callable[[Env], Any]:
    """A closure computing `node` from an environment dict; only whitelisted nodes."""
    if isinstance(node, ast.Expression):
        return _build(node.body, text)
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, bool, str)):
            raise SpaceError(f"constraint {text!r}: constant {node.value!r} is not allowed")
        v = node.value
        return lambda env: v
    if isinstance(node, ast.Name):
        name = node.id

        def look(env, name=name):
            try:
                return env[name]
            except KeyError:
                raise _Unknown(name) from None
        return look
    if isinstance(node, ast.BinOp):
        op = _pow if isinstance(node.op, ast.Pow) else _BIN.get(type(node.op))
        if op is None:
            raise SpaceError(f"constraint {text!r}: operator {type(node.op).__name__} is not allowed")
        l, r = _build(node.left, text), _build(node.right, text)
        return lambda env: op(l(env), r(env))
    if isinstance(node, ast.UnaryOp):
        o = _build(node.operand, text)
        if isinstance(node.op, ast.USub):
            return lambda env: -o(env)
        if isinstance(node.op, ast.UAdd):
            return lambda env: +o(env)
        if isinstance(node.op, ast.Not):
            return lambda env: not o(env)
        raise SpaceError(f"constraint {text!r}: operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.BoolOp):
        parts = [_build(v, text) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: all(p(env) for p in parts)
        return lambda env: any(p(env) for p in parts)
    if isinstance(node, ast.Compare):
        first = _build(node.left, text)
        ops = []
        for o, c in zip(node.ops, node.comparators):
            f = _CMP.get(type(o))
            if f is None:
                raise SpaceError(f"constraint {text!r}: comparison {type(o).__name__} is not allowed")
            ops.append((f, _build(c, text)))

        def cmp(env):
            a = first(env)
            for f, g in ops:
                b = g(env)
                if not f(a, b):
                    return False
                a = b
            return True
        return cmp
    if isinstance(node, ast.IfExp):
        t, b, o = _build(node.test, text), _build(node.body, text), _build(node.orelse, text)
        return lambda env: b(env) if t(env) else o(env)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS \
            and not node.keywords:
        f = _FUNCS[node.func.id]
        args = [_build(a, text) for a in node.args]
        return lambda env: f(*(a(env) for a in args))
    raise SpaceError(f"constraint {text!r}: {type(node).__name__} is not allowed")


@dataclass(frozen=True)
class Constraint:
    """One compiled constraint: `check(env)` is True, False, or raises _Unknown/ArithmeticError."""

    text: str
    fn: Callable[[Env], Any] = field(repr=False, compare=False)
    names: frozenset = field(default=frozenset(), compare=False)

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        if not isinstance(text, str) or len(text) > 500:
            raise SpaceError(f"constraint {str(text)[:60]!r}: must be a string of at most 500 characters")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise SpaceError(f"constraint {text!r}: {e.msg}") from None
        names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - set(_FUNCS)
        return cls(text, _build(tree, text), names)

    def __call__(self, env: Env) -> bool:
        return bool(self.fn(env))


def safe_eval(text: str, env: Env) -> Any:
    """Evaluate one whitelisted expression (for tests and one-off use)."""
    return Constraint.parse(text).fn(env)


# ---------------------------------------------------------------------------------------
# hardware-derived constraints

def hardware_constraints(params: Iterable[str], context: dict | None, *, l1_factor: float = 2.0,
                         l2_factor: float = 1.0) -> list[str]:
    """Constraints implied by a hardware profile (a plain dict such as
    {"vregs": 32, "lanes": 8, "l1d": 49152, "l2": 2097152}) for the parameters present:
      - the MR x NV accumulator tile (x LMUL register groups) fits the vector register file
        (vector sets only: lanes > 1);
      - the KC x NR micro-panel of B (NR = NV * LMUL * lanes floats) fits l1_factor x L1d
        (the expert templates allow 2x: B streams through L1 while A sits in registers);
      - the MC x KC block of A fits l2_factor x L2.
    A constraint whose context value is missing is left out."""
    ps, ctx = set(params), context or {}
    out = []
    lm = " * LMUL" if "LMUL" in ps else ""
    if {"MR", "NV"} <= ps and ctx.get("vregs") and (ctx.get("lanes") or 0) > 1:   # scalar: no vector tile
        out.append(f"MR * NV{lm} <= vregs")
    if {"KC", "NV"} <= ps and ctx.get("l1d") and ctx.get("lanes"):
        out.append(f"KC * NV{lm} * lanes * 4 <= {l1_factor:g} * l1d")
    if {"MC", "KC"} <= ps and ctx.get("l2"):
        out.append(f"MC * KC * 4 <= {l2_factor:g} * l2")
    return out


# ---------------------------------------------------------------------------------------
# moves

@dataclass(frozen=True)
class Move:
    """A parameter move in the paper's form: "KC+64" (numeric step to another domain value)
    or "MR 8 -> 12"; `changes` maps each parameter to its new value."""

    changes: tuple[tuple[str, Any], ...]
    text: str

    def apply(self, point: dict) -> dict:
        return {**point, **dict(self.changes)}

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.changes)


def move_text(name: str, old: Any, new: Any) -> str:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        d = new - old
        return f"{name}{'+' if d >= 0 else '-'}{abs(d):g}" if name in BLOCK_PARAMS else f"{name} {old} -> {new}"
    return f"{name} {old} -> {new}"


BLOCK_PARAMS = {"KC", "MC", "NC", "BM", "BN", "BK"}   # named "KC+64"; others "MR 8 -> 12"
_MOVE_DELTA = re.compile(r"^\s*([A-Za-z_]\w*)\s*([+-])\s*(\d+(?:\.\d+)?)\s*$")
_MOVE_ARROW = re.compile(r"^\s*([A-Za-z_]\w*)\s*:?\s*(\S+)\s*(?:->|→|=>|to)\s*(\S+)\s*$")
_MOVE_SET = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\S+)\s*$")


def _num(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---------------------------------------------------------------------------------------
# the space

@dataclass(frozen=True)
class SpaceSize:
    product: int          # size of the Cartesian product of the domains
    valid: int            # valid points: exact, or the estimate
    exact: bool
    sampled: int = 0      # points sampled for the estimate

    def describe(self) -> str:
        if self.exact:
            return f"{self.valid:,} valid points of {self.product:,} combinations"
        return f"~{self.valid:,} valid points (estimated from {self.sampled:,} samples) of {self.product:,} combinations"


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
        self._code = [Constraint.parse(c) for c in self.constraints]

    # -- validity -------------------------------------------------------------------------
    def violations(self, point: dict[str, Any], context: dict[str, Any] | None = None) -> list[str]:
        env = {**(context or {}), **point}
        bad = []
        for name, dom in self.params.items():
            if name not in point:
                bad.append(f"{name} missing")
            elif point[name] not in dom:
                bad.append(f"{name}={point[name]} not in {dom}")
        for c in self._code:
            try:
                if not c(env):
                    bad.append(c.text)
            except _Unknown as e:
                bad.append(f"{c.text} (unknown name {e})")
            except (ArithmeticError, ValueError, TypeError) as e:
                bad.append(f"{c.text} ({e})")
        return bad

    def valid(self, point: dict[str, Any], context: dict[str, Any] | None = None) -> bool:
        env = {**(context or {}), **point}
        for name, dom in self.params.items():
            if point.get(name, _MISSING) not in dom:
                return False
        try:
            return all(c(env) for c in self._code)
        except (_Unknown, ArithmeticError, ValueError, TypeError):
            return False

    def with_constraints(self, extra: Iterable[str]) -> "ParamSpace":
        cons = list(self.constraints) + [c for c in extra if c not in self.constraints]
        return ParamSpace(dict(self.params), cons, dict(self.defaults))

    def with_hardware(self, context: dict | None, **kw) -> "ParamSpace":
        """This space plus the constraints derived from a hardware profile dict."""
        return self.with_constraints(hardware_constraints(self.params, context, **kw))

    def fixed(self, values: dict[str, Any]) -> "ParamSpace":
        """The subspace with some parameters pinned (for small experiments)."""
        params = dict(self.params)
        for n, v in values.items():
            if n not in params:
                raise SpaceError(f"unknown parameter {n}; known: {', '.join(params)}")
            if v not in params[n]:
                raise SpaceError(f"{n}={v} is not in its domain {params[n]}")
            params[n] = [v]
        return ParamSpace(params, list(self.constraints), {**self.defaults, **values})

    # -- enumeration and sampling ------------------------------------------------------------
    def points(self, context: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every valid point, lazily, in domain order."""
        names = list(self.params)
        for values in itertools.product(*(self.params[n] for n in names)):
            p = dict(zip(names, values))
            if self.valid(p, context):
                yield p

    def product_size(self) -> int:
        n = 1
        for d in self.params.values():
            n *= len(d)
        return n

    def random_point(self, rng: random.Random) -> dict[str, Any]:
        return {n: rng.choice(d) for n, d in self.params.items()}

    def sample(self, context: dict | None = None, rng: random.Random | None = None, n: int | None = None,
               max_tries: int = 100_000) -> Iterator[dict[str, Any]]:
        """Valid points drawn uniformly by rejection (repeats possible); stops after n points
        or after max_tries consecutive rejections (the space may be empty or very sparse)."""
        rng = rng or random.Random()
        got, misses = 0, 0
        while n is None or got < n:
            p = self.random_point(rng)
            if self.valid(p, context):
                got, misses = got + 1, 0
                yield p
            else:
                misses += 1
                if misses >= max_tries:
                    return

    def size(self, context: dict | None = None, *, exact_limit: int = 200_000, samples: int = 4000,
             seed: int = 0) -> SpaceSize:
        """Exact count when the product is at most exact_limit, else valid fraction of a
        uniform sample x product."""
        prod = self.product_size()
        if prod <= exact_limit:
            return SpaceSize(prod, sum(1 for _ in self.points(context)), True)
        rng = random.Random(seed)
        hits = sum(self.valid(self.random_point(rng), context) for _ in range(samples))
        return SpaceSize(prod, round(prod * hits / samples), False, samples)

    # -- moves -------------------------------------------------------------------------------
    def neighbours(self, point: dict[str, Any], context: dict | None = None,
                   steps: tuple[int, ...] = (1, 2)) -> list[Move]:
        """Valid one-parameter moves: each parameter to the domain value `s` positions up or
        down (s in steps), nearest first."""
        out: list[Move] = []
        seen = set()
        for s in steps:
            for name, dom in self.params.items():
                if len(dom) < 2 or point.get(name) not in dom:
                    continue
                i = dom.index(point[name])
                for j in (i + s, i - s):
                    if 0 <= j < len(dom):
                        q = {**point, name: dom[j]}
                        k = point_key(q)
                        if k not in seen and self.valid(q, context):
                            seen.add(k)
                            out.append(Move(((name, dom[j]),), move_text(name, point[name], dom[j])))
        return out

    def parse_move(self, text: str, point: dict[str, Any], context: dict | None = None) -> tuple[Move | None, str]:
        """A move in the paper's form ("KC+64", "MR 8 -> 12", "NV=2"; several joined by ','
        or ';' form one compound move) from `point`: (move, "") or (None, why it is invalid)."""
        changes: dict[str, Any] = {}
        for part in re.split(r"[;,&]| and ", str(text)):
            part = part.strip().strip("`'\"")
            if not part:
                continue
            m = _MOVE_DELTA.match(part)
            if m:
                name, sign, amount = m.group(1), m.group(2), _num(m.group(3))
                if name not in self.params:
                    return None, f"{part!r}: unknown parameter {name} (known: {', '.join(self.params)})"
                new = changes.get(name, point.get(name))
                if not isinstance(new, (int, float)):
                    return None, f"{part!r}: {name} is not numeric"
                new = new + amount if sign == "+" else new - amount
                if isinstance(new, float) and new.is_integer():
                    new = int(new)
            else:
                m = _MOVE_ARROW.match(part) or _MOVE_SET.match(part)
                if not m:
                    return None, f"{part!r}: not a move (use 'KC+64' or 'MR 8 -> 12')"
                name = m.group(1)
                if name not in self.params:
                    return None, f"{part!r}: unknown parameter {name} (known: {', '.join(self.params)})"
                if m.re is _MOVE_ARROW:
                    old = _num(m.group(2))
                    if old != point.get(name):
                        return None, f"{part!r}: {name} is {point.get(name)} here, not {old}"
                    new = _num(m.group(3))
                else:
                    new = _num(m.group(2))
            if new not in self.params[name]:
                return None, f"{part!r}: {name}={new} is not in its domain {self.params[name]}"
            changes[name] = new
        changes = {n: v for n, v in changes.items() if point.get(n) != v}
        if not changes:
            return None, f"{text!r}: changes nothing"
        q = {**point, **changes}
        bad = self.violations(q, context)
        if bad:
            return None, f"{text!r}: violates {'; '.join(bad[:3])}"
        txt = ", ".join(move_text(n, point.get(n), v) for n, v in changes.items())
        return Move(tuple(changes.items()), txt), ""

    # -- the block ---------------------------------------------------------------------------
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


_MISSING = object()


def point_key(point: dict) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def ranked(space: ParamSpace, cost: Callable[[dict], float], context: dict | None = None,
           limit: int | None = None) -> list[dict]:
    """Valid points, cheapest first by a model `cost` (the search's prior). Materialises the
    valid points: for small spaces only (the strategies never call it)."""
    pts = sorted(space.points(context), key=cost)
    return pts[:limit] if limit else pts
