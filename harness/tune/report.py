"""Reports of searches: convergence plot and comparison table.

Both take {strategy: [SearchResult, one per seed]}. "Trials to 95%" is the first trial whose
best-so-far cost is within 5% of the best known cost in speed terms (cost <= best / 0.95);
the best known is the exhaustive optimum where it was run, else the best over every run.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Mapping, Sequence

from harness.tune.base import SearchResult

Results = Mapping[str, Sequence[SearchResult]]


def best_known(results: Results) -> float | None:
    if "exhaustive" in results:
        c = [r.best_so_far()[-1] for r in results["exhaustive"] if r.history and r.best_so_far()[-1] is not None]
        if c:
            return min(c)
    c = [r.best_so_far()[-1] for rs in results.values() for r in rs if r.history and r.best_so_far()[-1] is not None]
    return min(c) if c else None


def trials_to(result: SearchResult, target: float, cost: Callable | None = None) -> int | None:
    """First trial (1-based) whose best-so-far cost is <= target; `cost(evaluation)` overrides the
    measured cost (e.g. the noiseless cost of a synthetic objective)."""
    b = None
    for i, e in enumerate(result.history):
        c = cost(e) if cost else e.cost
        if c is not None and (b is None or c < b):
            b = c
        if b is not None and b <= target:
            return i + 1
    return None


def comparison(results: Results, best: float | None = None, fraction: float = 0.95,
               cost: Callable | None = None) -> list[dict]:
    """One row per strategy, averaged over seeds: best found (mean, min), trials to reach
    `fraction` of the best known speed (mean over the seeds that reached it, and how many did),
    trials used, wall time."""
    best = best if best is not None else best_known(results)
    rows = []
    for name, rs in results.items():
        finals = [r.best_so_far()[-1] for r in rs if r.history and r.best_so_far()[-1] is not None]
        reach = [trials_to(r, best / fraction, cost) for r in rs] if best else [None] * len(rs)
        got = [n for n in reach if n is not None]
        rows.append({
            "strategy": name, "seeds": len(rs),
            "best_mean": statistics.mean(finals) if finals else None,
            "best_min": min(finals) if finals else None,
            "best_known": best,
            "trials_to_95_mean": statistics.mean(got) if got else None,
            # a seed that never reached it counts as its trial count + 1 (a lower bound)
            "trials_to_95_censored": statistics.mean(n if n is not None else len(r.history) + 1
                                                     for n, r in zip(reach, rs)) if rs and best else None,
            "reached_95": f"{len(got)}/{len(rs)}",
            "trials_mean": statistics.mean(len(r.history) for r in rs) if rs else 0,
            "wall_s_mean": statistics.mean(r.wall_s for r in rs) if rs else 0.0,
        })
    return rows


def markdown(rows: list[dict]) -> str:
    def f(v, fmt="{:.4g}"):
        return "-" if v is None else (fmt.format(v) if isinstance(v, float) else str(v))
    head = ("| strategy | seeds | best (mean) | best (min) | best known | trials to 95% (mean of seeds that reached it) "
            "| reached 95% | trials to 95% (unreached = trials+1) | trials | wall s |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['seeds']} | {f(r['best_mean'])} | {f(r['best_min'])} | "
                     f"{f(r['best_known'])} | {f(r['trials_to_95_mean'], '{:.1f}')} | {r['reached_95']} | "
                     f"{'>=' if r['reached_95'].split('/')[0] != r['reached_95'].split('/')[1] else ''}"
                     f"{f(r['trials_to_95_censored'], '{:.1f}')} | "
                     f"{f(float(r['trials_mean']), '{:.0f}')} | {f(r['wall_s_mean'], '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def convergence_plot(results: Results, path: Path, *, best: float | None = None, title: str = "",
                     ylabel: str = "best cost so far (lower is better)", band: str = "minmax") -> Path:
    """Best-so-far cost against trials: one line (median over seeds) per strategy with a band
    (band="minmax" or "iqr" over seeds); a dashed line at the best known cost. PNG, Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, rs in results.items():
        curves = [r.best_so_far() for r in rs if r.history]
        if not curves:
            continue
        n = max(len(c) for c in curves)
        arr = np.full((len(curves), n), np.nan)
        for i, c in enumerate(curves):
            vals = [np.nan if v is None else v for v in c]
            vals += [vals[-1]] * (n - len(vals))          # a run that stopped early keeps its best
            arr[i] = vals
        x = np.arange(1, n + 1)
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mid = np.nanmedian(arr, axis=0)
                if band == "iqr":
                    lo, hi = np.nanpercentile(arr, 25, axis=0), np.nanpercentile(arr, 75, axis=0)
                else:
                    lo, hi = np.nanmin(arr, axis=0), np.nanmax(arr, axis=0)
        line, = ax.plot(x, mid, label=f"{name} (median of {len(curves)})", lw=1.6)
        if len(curves) > 1:
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
    best = best if best is not None else best_known(results)
    if best is not None:
        ax.axhline(best, color="k", ls="--", lw=0.8, label="best known")
        ax.axhline(best / 0.95, color="k", ls=":", lw=0.8, label="95% of best known")
    ax.set_xlabel("trials")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "convergence")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
