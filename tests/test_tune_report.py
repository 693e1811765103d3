"""Convergence plot and comparison table of several strategies over seeds."""
from harness.tune import get, make_options, synthetic as S
from harness.tune.report import best_known, comparison, convergence_plot, markdown, trials_to


def test_plot_and_table(tmp_path):
    results = {"exhaustive": [get("exhaustive").tune(S.space(), S.Synthetic(noise=0), make_options(
        "exhaustive", context=S.CONTEXT))]}
    for name in ("random", "mcts"):
        results[name] = [get(name).tune(S.space(), S.Synthetic(seed=s, noise=0), make_options(
            name, budget=30, seed=s, context=S.CONTEXT)) for s in range(3)]
    best = best_known(results)
    assert abs(best - 1.0) < 1e-9                                   # the exhaustive optimum
    rows = comparison(results)
    by = {r["strategy"]: r for r in rows}
    assert by["exhaustive"]["reached_95"] == "1/1" and by["random"]["seeds"] == 3
    r0 = results["mcts"][0]
    n = trials_to(r0, best / 0.95)
    assert n is None or r0.best_so_far()[n - 1] <= best / 0.95
    md = markdown(rows)
    assert md.startswith("| strategy |") and "mcts" in md
    p = convergence_plot(results, tmp_path / "results" / "tune" / "conv.png", title="synthetic")
    assert p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    p2 = convergence_plot(results, tmp_path / "iqr.png", band="iqr")
    assert p2.is_file()
