"""Monte Carlo tree search over parameter moves (QiMeng-TensorOp's tuner).

The root is the expert's default point; a node is a measured point and its children are the
points one move away ("KC+64", "MR 8 -> 12"), proposed by a MoveProposer (rule-based offline,
or an LLM: tune.moves). Each iteration selects a node by UCT from the root, expands it with the
proposer's next untried move (progressive widening: a node visited N times may have at most
1 + widen_c * N**widen_alpha children, so the tree deepens along good moves instead of
measuring every neighbour of the root first), measures the new point, and backs its reward up
to the root. Reward = root cost / cost (the measured speed-up over the root, 0 for a failed
point); a node's value blends the mean and the best reward below it. A failed point is a leaf.
When no node can be expanded, the search jumps to a random unmeasured point under the root.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.tune.base import Evaluate, Evaluation, Options, Point, Run, SearchResult, drive
from harness.tune.moves import MoveProposer, RuleMoveProposer
from harness.core.space import Move, ParamSpace

NAME = "mcts"


@dataclass
class MCTSOptions(Options):
    c: float = 0.1                     # UCT exploration weight (values are normalised to [0, 1])
    best_weight: float = 0.9           # node value = (1-w) * mean reward + w * best reward
    widen_c: float = 0.5               # progressive widening: children <= 1 + widen_c * N ** widen_alpha
    widen_alpha: float = 0.5
    proposer: Any = None               # a MoveProposer; None: RuleMoveProposer(seed)


@dataclass(eq=False)
class Node:
    point: Point
    parent: "Node | None" = None
    move: Move | None = None
    eval: Evaluation | None = None
    children: list["Node"] = field(default_factory=list)
    n: int = 0
    w: float = 0.0
    best: float = 0.0
    exhausted: bool = False            # the proposer has no untried move left here
    dead: bool = False                 # exhausted and every child dead

    def value(self, bw: float) -> float:
        return (1 - bw) * (self.w / self.n if self.n else 0.0) + bw * self.best


class Tree:
    def __init__(self, run: Run, opts: MCTSOptions, proposer: MoveProposer, rng: random.Random):
        self.run, self.opts, self.proposer, self.rng = run, opts, proposer, rng
        self.nodes: dict[str, Node] = {}
        self.ref: float | None = None
        self.root: Node | None = None

    def reward(self, e: Evaluation) -> float:
        if not e.ok or e.cost <= 0:
            return 0.0
        if self.ref is None:
            self.ref = e.cost
        return self.ref / e.cost

    def add(self, point: Point, parent: Node | None, move: Move | None, e: Evaluation) -> Node:
        node = Node(point, parent, move, e, exhausted=not e.ok)
        self.nodes[point.key] = node
        if parent is not None:
            parent.children.append(node)
            self.proposer.observe(parent.eval, move, e)
        r = self.reward(e)
        x: Node | None = node
        while x is not None:
            x.n += 1
            x.w += r
            x.best = max(x.best, r)
            x = x.parent
        return node

    def can_widen(self, node: Node) -> bool:
        return not node.exhausted and len(node.children) < 1 + self.opts.widen_c * node.n ** self.opts.widen_alpha

    def select(self) -> Node | None:
        node = self.root
        while True:
            if self.can_widen(node):
                return node
            alive = [c for c in node.children if not c.dead]
            if not alive:
                if node.exhausted:
                    node.dead = True
                    if node is self.root:
                        return None
                    node = self.root
                    continue
                return node          # widening limit reached but no live child: widen anyway
            ln = math.log(max(1, node.n))
            top = max(self.root.best, 1e-12)     # values normalised to [0, 1] by the best reward so far
            node = max(alive, key=lambda c: c.value(self.opts.best_weight) / top
                       + self.opts.c * math.sqrt(ln / c.n) + self.rng.random() * 1e-9)

    def expand(self, node: Node, k: int) -> list[tuple[Point, Move]]:
        tried = set(self.nodes)
        moves = self.proposer.propose(node.point, self.run.space, self.run.history, self.run.options.context, tried)
        out: list[tuple[Point, Move]] = []
        for m in moves:
            q = Point(m.apply(node.point))
            if q.key in tried or not self.run.space.valid(q, self.run.options.context):
                continue
            tried.add(q.key)
            out.append((q, m))
            if len(out) >= k:
                break
        if not out:
            node.exhausted = True
        return out


def tune(space: ParamSpace, evaluate: Evaluate, options: MCTSOptions | None = None,
         history: Iterable[Evaluation] = ()) -> SearchResult:
    opts = options or MCTSOptions()
    run = Run(NAME, space, evaluate, opts, history)
    rng = random.Random(opts.seed)
    proposer = opts.proposer or RuleMoveProposer(seed=opts.seed)
    tree = Tree(run, opts, proposer, rng)
    run.notes.append(f"proposer: {getattr(proposer, 'name', type(proposer).__name__)}")

    total: list[int] = []

    def jump() -> bool:
        misses = 0
        for p in space.sample(opts.context, rng, max_tries=20_000):
            p = Point(p)
            if p.key not in tree.nodes:
                tree.add(p, tree.root, Move(tuple(p.items()), "jump"), run.evaluate(p))
                tree.root.dead = False
                return True
            misses += 1
            if misses % 1000 == 0:
                if not total:
                    total.append(space.size(opts.context).valid)
                if len(tree.nodes) >= total[0]:
                    return False
        return False

    def body():
        start = run.start_point()
        if start is None:
            start = next((Point(p) for p in space.sample(opts.context, rng, n=1)), None)
            if start is None:
                run.stopped = "empty space"
                return
        tree.root = tree.add(start, None, None, run.evaluate(start))
        tree.root.exhausted = False        # the root is expanded even when it failed
        while True:
            run.check()
            node = tree.select()
            if node is None:
                if not jump():
                    run.stopped = "exhausted"
                    return
                continue
            picks = tree.expand(node, max(1, opts.batch))
            if not picks:
                continue
            evals = run.evaluate_many([q for q, _ in picks])
            for (q, m), e in zip(picks, evals):
                tree.add(q, node, m, e)
    res = drive(run, body)
    res.notes.append(f"tree: {len(tree.nodes)} nodes, root visits {tree.root.n if tree.root else 0}")
    return res
