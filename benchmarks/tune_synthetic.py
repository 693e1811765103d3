"""Compare the search strategies on the synthetic objective (harness.tune.synthetic): trials
to reach 95% of the exhaustive optimum (judged on the noiseless cost), averaged over seeds,
plus the convergence plot under results/tune/.

    .venv/bin/python benchmarks/tune_synthetic.py --budget 60 --seeds 10
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.tune import get, make_options, synthetic as S
from harness.tune.report import comparison, convergence_plot, markdown


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--strategies", default="mcts,random,bayes")
    ap.add_argument("--out", default="results/tune/synthetic-convergence.png")
    a = ap.parse_args()
    sp = S.space()
    syn0 = S.Synthetic()
    results = {"exhaustive": [get("exhaustive").tune(sp, syn0, make_options("exhaustive", context=S.CONTEXT))]}
    for name in a.strategies.split(","):
        results[name] = [get(name).tune(sp, S.Synthetic(seed=s), make_options(name, budget=a.budget, seed=s,
                                                                              context=S.CONTEXT))
                         for s in range(a.seeds)]
    _, best = syn0.optimum()
    truth = lambda e: syn0.true_cost(e.point) if e.ok else None
    print(f"space: {sp.size(S.CONTEXT).describe()}; optimum cost {best} (noiseless)")
    print(markdown(comparison(results, best, cost=truth)))
    print("plot:", convergence_plot(results, Path(a.out), best=best, title="synthetic objective (2% noise)",
                                    ylabel="best measured cost so far"))


if __name__ == "__main__":
    main()
