"""Move proposers for MCTS expansions: parameter moves in the paper's form ("KC+64",
"MR 8 -> 12") from a point, given the measured history.

    propose(point, space, history, context, tried) -> [Move]   best first; `tried` holds the
                                                               keys of points already in the tree
    observe(parent, move, child)                               the outcome of an expanded move

`RuleMoveProposer` works offline: every one-parameter move to the adjacent domain value (then
two steps away), ordered by how moves of the same parameter and direction have paid off so far
(mean log speed-up; failures count against; untried directions get an optimistic prior).

`LLMMoveProposer` asks an OpenAI-compatible endpoint (harness.generate.llm's client) for moves,
showing it the space, the hardware factors, the point, the measured history and the reasons its
earlier invalid moves were dropped; each answer is parsed and validated against the space (an
invalid move is dropped with its reason, which the next request carries), and when nothing valid
comes back, or the endpoint fails, it falls back to the rule proposer.
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from harness.tune.base import Evaluation
from harness.core.space import Move, ParamSpace, point_key


class MoveProposer(Protocol):
    name: str

    def propose(self, point: dict, space: ParamSpace, history: Sequence[Evaluation], context: dict | None,
                tried: set[str]) -> list[Move]: ...

    def observe(self, parent: Evaluation | None, move: Move, child: Evaluation) -> None: ...


def _direction(space: ParamSpace, point: dict, move: Move) -> list[tuple[str, int]]:
    out = []
    for n, v in move.changes:
        dom = space.params.get(n, [])
        try:
            out.append((n, 1 if dom.index(v) > dom.index(point[n]) else -1))
        except (ValueError, KeyError):
            pass
    return out


@dataclass
class RuleMoveProposer:
    """Offline moves of the paper's kind, guided by the history of moves made so far."""

    seed: int = 0
    prior: float = 0.05               # optimism for a direction never tried
    fail_penalty: float = 0.5         # log-reward of a move that led to a failed point
    name: str = "rule"
    stats: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def score(self, key: tuple[str, int]) -> float:
        s = self.stats.get(key)
        if not s:
            return self.prior
        return sum(s) / len(s) + self.prior / (1 + len(s))

    def propose(self, point, space, history, context, tried) -> list[Move]:
        moves = [m for m in space.neighbours(point, context) if point_key(m.apply(point)) not in tried]
        scored = []
        for m in moves:
            dirs = _direction(space, point, m)
            steps = sum(abs(space.params[n].index(v) - space.params[n].index(point[n])) for n, v in m.changes)
            s = sum(self.score(d) for d in dirs) / max(1, len(dirs)) - 0.02 * (steps - 1)
            scored.append((s + self.rng.random() * 1e-3, m))
        scored.sort(key=lambda t: -t[0])
        return [m for _, m in scored]

    def observe(self, parent, move, child) -> None:
        if parent is None or not parent.ok:
            return
        r = math.log(parent.cost / child.cost) if child.ok and child.cost > 0 else -self.fail_penalty
        for d in _direction_from(parent.point, move, child):
            self.stats.setdefault(d, []).append(r)


def _direction_from(parent_point: dict, move: Move, child: Evaluation):
    # the parent's domain order is not known here: compare numerically where possible
    for n, v in move.changes:
        old = parent_point.get(n)
        if isinstance(v, (int, float)) and isinstance(old, (int, float)):
            yield (n, 1 if v > old else -1)


SYSTEM = ("You tune the parameters of a GEMM kernel (a BLIS-style tiled, packed loop nest with a "
          "register-blocked micro-kernel) by proposing parameter moves for a Monte Carlo tree search. "
          "A move changes one or two parameters of the current point, written like 'KC+64', 'NC-512' "
          "or 'MR 8 -> 12' (two changes joined by ', '). Every value must be in the parameter's "
          "domain and the point must satisfy the constraints.")


@dataclass
class LLMMoveProposer:
    """Moves from an LLM (any object with chat(messages, purpose) -> Answer, e.g. LLMClient)."""

    client: Any
    hardware: str = ""                # a summary of the hardware factors for the prompt
    fallback: Any = None              # a MoveProposer (default: RuleMoveProposer)
    max_moves: int = 4
    max_history: int = 20
    max_failures: int = 3             # consecutive endpoint failures before rules only
    name: str = "llm"
    log: list[dict] = field(default_factory=list)        # one entry per request
    errors: list[str] = field(default_factory=list)      # reasons, shown in the next request
    _cache: dict[str, list[Move]] = field(default_factory=dict)
    _failures: int = 0

    def __post_init__(self):
        if self.fallback is None:
            self.fallback = RuleMoveProposer()

    def messages(self, point, space, history, context) -> list[dict]:
        hist = [e for e in history][-self.max_history:]
        lines = []
        for e in hist:
            p = ", ".join(f"{k}={v}" for k, v in e.point.items())
            lines.append(f"- {p}: " + (f"cost {e.cost:.6g}" if e.ok else f"{e.status}: {e.error.splitlines()[0][:160] if e.error else ''}"))
        best = min((e for e in history if e.ok), key=lambda e: e.cost, default=None)
        parts = [
            "Parameters and domains:\n" + "\n".join(f"- {n}: {d}" for n, d in space.params.items()),
            "Constraints (hardware context: " + json.dumps(context or {}) + "):\n" +
            "\n".join(f"- {c}" for c in space.constraints),
        ]
        if self.hardware:
            parts.append("Hardware factors:\n" + self.hardware)
        parts.append("Measured so far (cost: lower is better):\n" + ("\n".join(lines) or "- nothing yet"))
        if best is not None:
            parts.append("Best so far: " + ", ".join(f"{k}={v}" for k, v in best.point.items()) + f" (cost {best.cost:.6g})")
        if self.errors:
            parts.append("Your earlier moves that were dropped, and why:\n" + "\n".join(f"- {r}" for r in self.errors[-10:]))
        parts.append("Current point: " + ", ".join(f"{k}={v}" for k, v in point.items()))
        parts.append(f"Propose up to {self.max_moves} moves from the current point, most promising first, as JSON: "
                     '{"moves": ["KC+64", "MR 8 -> 12"], "why": "one sentence"}')
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]

    @staticmethod
    def parse(text: str) -> list[str] | None:
        """The move strings of an answer, or None when it has none in a recognisable form."""
        for m in re.finditer(r"\{.*\}", text, re.S):
            try:
                obj = json.loads(m.group(0))
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("moves"), list):
                return [str(x) for x in obj["moves"] if isinstance(x, (str, int, float))]
        m = re.search(r"\[[^\[\]]*\]", text)
        if m:
            try:
                arr = json.loads(m.group(0))
                if isinstance(arr, list) and arr and all(isinstance(x, str) for x in arr):
                    return arr
            except json.JSONDecodeError:
                pass
        return None

    def propose(self, point, space, history, context, tried) -> list[Move]:
        key = point_key(point)
        cached = [m for m in self._cache.get(key, []) if point_key(m.apply(point)) not in tried]
        if cached:
            return cached + self.fallback.propose(point, space, history, context, tried | {
                point_key(m.apply(point)) for m in cached})
        if self._failures >= self.max_failures:     # the endpoint is gone: rules only
            return self.fallback.propose(point, space, history, context, tried)
        entry: dict = {"point": dict(point), "accepted": [], "dropped": []}
        self.log.append(entry)
        msgs = self.messages(point, space, history, context)
        try:
            answer = self.client.chat(msgs, purpose="tune").text
        except Exception as e:   # the endpoint is down, out of retries, ...
            entry["error"] = f"{type(e).__name__}: {e}"
            entry["fallback"] = True
            self._failures += 1
            return self.fallback.propose(point, space, history, context, tried)
        self._failures = 0
        entry["answer"] = answer[:2000]
        texts = self.parse(answer)
        if texts is None:
            why = f"the answer had no moves in the requested JSON form: {answer.strip()[:120]!r}"
            self.errors.append(why)
            entry["dropped"].append(["", why])
            entry["fallback"] = True
            return self.fallback.propose(point, space, history, context, tried)
        good: list[Move] = []
        for t in texts[: self.max_moves * 2]:
            mv, why = space.parse_move(t, point, context)
            if mv is None:
                self.errors.append(why)
                entry["dropped"].append([t, why])
            elif point_key(mv.apply(point)) in tried:
                entry["dropped"].append([t, "already measured"])
            elif all(mv.changes != g.changes for g in good):
                good.append(mv)
                entry["accepted"].append(mv.text)
        self._cache[key] = good
        if not good:
            entry["fallback"] = True
            return self.fallback.propose(point, space, history, context, tried)
        return good + self.fallback.propose(point, space, history, context, tried | {
            point_key(m.apply(point)) for m in good})

    def observe(self, parent, move, child) -> None:
        self.fallback.observe(parent, move, child)
