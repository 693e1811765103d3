"""Every strategy on a synthetic objective with a known optimum (no compiler): a separable
quadratic over a constrained ~280-point space, with noise and failing points; budget, resume
without re-measuring, the accept hook, failures and evaluator bugs as results."""
import json

import pytest

from harness.tune import get, make_options, names, options_class, synthetic as S
from harness.tune.base import Evaluation, Options, Point, plain_less
from harness.tune.strategies.exhaustive import TooLarge
from harness.core.space import ParamSpace

STRATEGIES = ["random", "mcts", "bayes"]


def true_best(result, syn):
    return min(syn.true_cost(e.point) for e in result.history if e.ok)


def test_registry_and_options():
    assert set(names()) >= {"exhaustive", "random", "mcts", "bayes"}
    assert options_class("mcts").__name__ == "MCTSOptions" and issubclass(options_class("bayes"), Options)
    o = make_options("mcts", budget=5, seed=3, unknown_option=1)
    assert o.budget == 5 and o.seed == 3
    with pytest.raises(KeyError):
        get("annealing")


def test_exhaustive_finds_the_optimum_and_refuses_large_spaces():
    syn = S.Synthetic(seed=1)
    r = get("exhaustive").tune(S.space(), syn, make_options("exhaustive", context=S.CONTEXT))
    opt, _ = syn.optimum()
    assert len(r.history) == S.space().size(S.CONTEXT).valid == 280
    assert r.history[0].point == S.space().defaults                # the start point first
    assert dict(r.best.point) == opt and r.stopped == "exhausted"
    assert {e.status for e in r.history} >= {"ok", "compile_error", "wrong_answer"}
    assert max(syn.calls.values()) == 1
    big = ParamSpace({f"P{i}": list(range(10)) for i in range(6)})
    with pytest.raises(TooLarge, match="refuses .* valid points"):
        get("exhaustive").tune(big, syn, make_options("exhaustive", max_points=1000))


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_gets_close_to_the_optimum_within_budget(name):
    finals = []
    for seed in range(3):
        syn = S.Synthetic(seed=seed)
        r = get(name).tune(S.space(), syn, make_options(name, budget=60, seed=seed, context=S.CONTEXT))
        assert len(r.history) == 60 and r.stopped == "budget"
        assert max(syn.calls.values()) == 1                          # no point measured twice
        assert all(S.space().valid(e.point, S.CONTEXT) for e in r.history)
        assert r.history[0].point == S.space().defaults
        assert r.best is not None and r.best.ok
        finals.append(true_best(r, syn))
    # the start point costs ~2.8, the optimum 1.0; random with 60 of 280 points gets ~1.15
    assert sum(finals) / len(finals) < (1.2 if name == "random" else 1.1), finals


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_search(name):
    a = get(name).tune(S.space(), S.Synthetic(seed=0), make_options(name, budget=25, seed=7, context=S.CONTEXT))
    b = get(name).tune(S.space(), S.Synthetic(seed=0), make_options(name, budget=25, seed=7, context=S.CONTEXT))
    assert [e.point for e in a.history] == [e.point for e in b.history]


class Killed(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the search catches it."""


@pytest.mark.parametrize("name", STRATEGIES + ["exhaustive"])
def test_resume_after_kill_measures_nothing_twice(name, tmp_path):
    journal = tmp_path / "history.jsonl"          # stands for the results DB: one line per finished trial
    syn = S.Synthetic(seed=2)
    k = 13

    def dying(p):
        if sum(syn.calls.values()) >= k:
            raise Killed()
        return syn(p)

    def save(e):
        with journal.open("a") as f:
            f.write(json.dumps(e.to_json()) + "\n")

    budget = 40 if name != "exhaustive" else None
    with pytest.raises(Killed):
        get(name).tune(S.space(), dying, make_options(name, budget=budget, seed=5, context=S.CONTEXT,
                                                      on_evaluation=save))
    prior = [Evaluation.from_json(json.loads(l)) for l in journal.read_text().splitlines()]
    assert len(prior) == k
    r = get(name).tune(S.space(), syn, make_options(name, budget=budget, seed=5, context=S.CONTEXT,
                                                    on_evaluation=save), history=prior)
    assert max(syn.calls.values()) == 1, "a point was measured twice"
    assert r.prior == k and len(r.history) == (budget or 280)
    assert [e.point for e in r.history[:k]] == [e.point for e in prior]
    if name in ("random", "mcts", "exhaustive"):   # seeded replays rebuild the same search exactly
        ref = get(name).tune(S.space(), S.Synthetic(seed=2), make_options(name, budget=budget, seed=5,
                                                                          context=S.CONTEXT))
        assert [e.point for e in r.history] == [e.point for e in ref.history]


def test_time_budget_stops_the_search():
    import time

    def slow(p):
        time.sleep(0.02)
        return S.Synthetic()(p)
    r = get("random").tune(S.space(), slow, make_options("random", budget=None, time_s=0.3, context=S.CONTEXT))
    assert r.stopped == "time" and 3 <= len(r.history) <= 20


def test_accept_hook_gates_the_incumbent():
    calls = []

    def needs_10_percent(new, inc):     # a stub for the paired, significance-tested comparison
        calls.append((new.trial, inc.trial))
        return new.cost < 0.9 * inc.cost

    syn = S.Synthetic(seed=0, noise=0.0)
    r = get("random").tune(S.space(), syn, make_options("random", budget=40, seed=1, context=S.CONTEXT,
                                                        accept=needs_10_percent))
    ok = [e for e in r.history if e.ok]
    assert calls and len(calls) == len(ok) - 1
    # walk the history: the incumbent only changed on a >10% win
    inc = ok[0]
    for e in ok[1:]:
        if e.cost < 0.9 * inc.cost:
            inc = e
    assert r.best is inc
    assert r.best.cost >= min(e.cost for e in ok)
    plain = get("random").tune(S.space(), S.Synthetic(seed=0, noise=0.0),
                               make_options("random", budget=40, seed=1, context=S.CONTEXT))
    assert plain.best.cost == min(e.cost for e in plain.history if e.ok)
    assert plain_less(Evaluation(Point(), 1.0), Evaluation(Point(), 2.0))

    def broken(new, inc):
        raise RuntimeError("no paired data")
    r = get("random").tune(S.space(), syn, make_options("random", budget=5, seed=1, context=S.CONTEXT, accept=broken))
    assert r.best.trial == 1 and any("accept hook failed" in n for n in r.notes)


@pytest.mark.parametrize("name", STRATEGIES)
def test_evaluator_failures_are_results_not_exceptions(name):
    n = {"i": 0}

    def flaky(p):
        n["i"] += 1
        if n["i"] % 3 == 0:
            raise OSError("device went away")
        if n["i"] % 3 == 1:
            return Evaluation(p, None, "timeout", "killed at the limit")
        return Evaluation(p, float("nan"))          # no trusted figure
    r = get(name).tune(S.space(), flaky, make_options(name, budget=12, seed=0, context=S.CONTEXT))
    assert len(r.history) == 12 and r.best is None
    assert {e.status for e in r.history} == {"timeout", "internal_error", "no_cost"}


@pytest.mark.parametrize("name", ["random", "mcts", "bayes", "exhaustive"])
def test_batches_go_to_evaluate_many(name):
    syn = S.Synthetic(seed=0)
    sizes = []

    class Batch:
        def __call__(self, p):
            sizes.append(1)
            return syn(p)

        def evaluate_many(self, pts):
            sizes.append(len(pts))
            return [syn(p) for p in pts]
    r = get(name).tune(S.space(), Batch(), make_options(name, budget=24, seed=0, context=S.CONTEXT, batch=4))
    assert len(r.history) == 24 and max(sizes) == 4 and max(syn.calls.values()) == 1
