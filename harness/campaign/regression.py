"""Did a change make any kernel slower? Two result sets (campaigns, exported files, or the two
sides of a --base-ref/--head-ref run) matched by (device, op, shape, dtype, kernel), one row each
with both figures, the change and its CI, and a verdict a CI job can act on.

Verdicts: faster | slower | same | new | gone | broken (ok before, not now) | model (an emulated
figure whose cycle model changed: the model, not the kernel, is named) | unpaired (host figures of
two separate runs without an in-run reference: no sound verdict). `change` is head's speed over
base's (> 1: head is faster), from one of:

- modelled_cycles (emulated devices): base cycles / head cycles; deterministic, so any change
  beyond the threshold is a change of the code;
- time (host, both sides measured paired in one run: --base-ref/--head-ref): the paired ratio;
- time_vs_reference (host, separate runs): each side's paired ratio against the same in-run
  reference (bench --against openblas), divided (stats.ratio_of_ratios).

A time verdict needs the CI to exclude 1 as well as the change to pass the threshold, so noise
is `same`. Exit status for CI (exit_status): 1 when any row is slower or broken, else 0."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from rich.table import Table

from harness.core import stats
from harness.core.records import Status, Trial

HOST_THRESHOLD = 0.05
EMULATED_THRESHOLD = 0.01
FAILING = ("slower", "broken")


@dataclass
class Row:
    device: str
    op: str
    shape: tuple[int, ...]
    dtype: str
    kernel: str
    base: Trial | None
    head: Trial | None
    verdict: str = ""
    change: stats.Ratio | None = None
    note: str = ""

    @property
    def key(self) -> tuple:
        return (self.device, self.op, tuple(self.shape), self.dtype, self.kernel)

    def figure(self, t: Trial | None) -> str:
        if t is None:
            return "-"
        if t.status is not Status.OK:
            return t.status.value
        if t.cycles:
            return f"{t.cycles:,.0f} cycles"
        if t.summary:
            return f"{t.summary.median * 1e3:.3f} ms"
        return "ok"

    def to_json(self) -> dict:
        c = self.change
        return {"device": self.device, "op": self.op, "shape": list(self.shape), "dtype": self.dtype,
                "kernel": self.kernel, "verdict": self.verdict,
                "base": self.figure(self.base), "head": self.figure(self.head),
                "base_status": self.base.status.value if self.base else None,
                "head_status": self.head.status.value if self.head else None,
                "change": c.ratio if c else None, "change_ci95": list(c.ci95) if c and c.ci95 else None,
                "p_value": c.p_value if c else None, "metric": c.metric if c else None, "note": self.note or None}


@dataclass(frozen=True)
class Thresholds:
    host: float = HOST_THRESHOLD
    emulated: float = EMULATED_THRESHOLD

    def of(self, t: Trial) -> float:
        return self.emulated if t.emulated else self.host


def row_key(t: Trial) -> tuple:
    return (t.device, t.op, tuple(t.shape), t.dtype, t.kernel)


def latest(trials: list[Trial]) -> dict[tuple, Trial]:
    """The latest trial per key (a re-run replaces an earlier one)."""
    out: dict[tuple, Trial] = {}
    for t in trials:
        out[row_key(t)] = t
    return out


def speed_verdict(change: stats.Ratio, threshold: float) -> str:
    """faster / slower / same from head's speed over base's."""
    r = change.ratio
    if change.metric == "modelled_cycles":
        return "slower" if r < 1 - threshold else "faster" if r > 1 + threshold else "same"
    lo, hi = change.ci95 or (-math.inf, math.inf)
    if r < 1 - threshold and hi < 1:
        return "slower"
    if r > 1 + threshold and lo > 1:
        return "faster"
    return "same"


def _model_of(t: Trial) -> str:
    return f"{t.model} {t.meta.get('provenance', {}).get('model_version', '')}".strip()


def _paired_against_reference(t: Trial) -> stats.Ratio | None:
    p = t.meta.get("paired")
    if not isinstance(p, dict) or p.get("metric") != "time" or not p.get("ratio"):
        return None
    ci = p.get("ratio_ci95")
    return stats.Ratio(float(p["ratio"]), tuple(ci) if ci else None, p.get("p_value"), "time",
                       int(p.get("pairs") or 0), p.get("against") or "")


def judge(base: Trial | None, head: Trial | None, thresholds: Thresholds,
          paired: stats.Ratio | None = None) -> Row:
    """One row. `paired`: head against base measured together (time or modelled cycles), when the
    two sides come from one run."""
    t = head or base
    row = Row(t.device, t.op, tuple(t.shape), t.dtype, t.kernel, base, head)
    if base is None:
        row.verdict = "new"
        return row
    if head is None:
        row.verdict = "gone"
        return row
    if base.status is Status.OK and head.status is not Status.OK:
        row.verdict = "broken"
        row.note = f"{head.status.value}: {head.error}"[:300]
        return row
    if head.status is not Status.OK:
        row.verdict = "same"
        row.note = f"still {head.status.value}" + (f" (was {base.status.value})" if base.status != head.status else "")
        return row
    if base.status is not Status.OK:
        row.verdict = "new"
        row.note = f"was {base.status.value}"
        return row
    thr = thresholds.of(head)
    if paired is not None:
        row.change = paired
    elif head.emulated and base.emulated and head.cycles and base.cycles:
        row.change = stats.Ratio(base.cycles / head.cycles, None, None, "modelled_cycles", against=base.kernel)
        if _model_of(base) != _model_of(head):
            row.verdict = "model"
            row.note = (f"the cycle model changed ({_model_of(base)} -> {_model_of(head)}): the change is the "
                        "model's as much as the kernel's; re-run the base under the new model")
            return row
    else:
        rb, rh = _paired_against_reference(base), _paired_against_reference(head)
        if rb and rh and rb.against == rh.against:
            row.change = stats.ratio_of_ratios(rh, rb)
            row.note = f"separate runs: each run's paired ratio against its own {rb.baseline_name}"
        else:
            row.verdict = "unpaired"
            row.note = ("separate host runs without an in-run reference: measure both with "
                        "`bench --against openblas`, or use --base-ref/--head-ref to pair them in one run")
            return row
    row.verdict = speed_verdict(row.change, thr)
    return row


def compare_sets(base: list[Trial], head: list[Trial], thresholds: Thresholds = Thresholds()) -> list[Row]:
    """Rows for every key in either set (base's order first, then head's new keys)."""
    b, h = latest(base), latest(head)
    keys = list(b) + [k for k in h if k not in b]
    return [judge(b.get(k), h.get(k), thresholds) for k in keys]


def device_mismatches(base: list[Trial], head: list[Trial]) -> list[str]:
    """Devices both sets name whose configuration differs (provenance device_hash)."""
    def hashes(ts):
        out = {}
        for t in ts:
            d = t.meta.get("provenance", {}).get("device_hash")
            if d:
                out[t.device] = d
        return out
    hb, hh = hashes(base), hashes(head)
    return sorted(d for d in set(hb) & set(hh) if hb[d] != hh[d])


def exit_status(rows: list[Row]) -> int:
    return 1 if any(r.verdict in FAILING for r in rows) else 0


# ---- rendering --------------------------------------------------------------------------------
def _change_text(r: Row) -> str:
    c = r.change
    if c is None:
        return "-"
    ci = f" [{c.ci95[0]:.3f}, {c.ci95[1]:.3f}]" if c.ci95 else ""
    return f"{c.ratio:.3f}x{ci}"


def _shape(r: Row) -> str:
    return "x".join(map(str, r.shape))


HEADERS = ("device", "kernel", "op", "shape", "base", "head", "head/base speed", "metric", "verdict", "note")


def _cells(r: Row) -> tuple[str, ...]:
    return (r.device, r.kernel, f"{r.op} {r.dtype}", _shape(r), r.figure(r.base), r.figure(r.head), _change_text(r),
            r.change.metric if r.change else "-", r.verdict, r.note)


def summary_line(rows: list[Row]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    verdict = "REGRESSION" if exit_status(rows) else "no regression"
    return f"{verdict}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))


def markdown(rows: list[Row], title: str = "tensorop compare") -> str:
    lines = [f"### {title}", "", f"**{summary_line(rows)}**", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in _cells(r)]
        if r.verdict in FAILING:
            cells[8] = f"**{cells[8]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "head/base speed > 1: head is faster. modelled_cycles: emulated devices (deterministic); "
                  "time: both measured paired in one run; time_vs_reference: each run paired with the same "
                  "in-run reference."]
    return "\n".join(lines) + "\n"


def json_text(rows: list[Row]) -> str:
    return json.dumps({"regression": bool(exit_status(rows)), "summary": summary_line(rows),
                       "rows": [r.to_json() for r in rows]}, indent=1) + "\n"


def rich_table(rows: list[Row]) -> Table:
    table = Table(title=summary_line(rows))
    for h in HEADERS:
        table.add_column(h, justify="right" if h in ("base", "head", "head/base speed") else "left")
    style = {"slower": "red", "broken": "red", "faster": "green", "model": "yellow", "unpaired": "yellow"}
    for r in rows:
        table.add_row(*_cells(r), style=style.get(r.verdict))
    return table


def chart(rows: list[Row], path) -> None:
    """A bar per row with a figure: head's speed over base's with its CI, the thresholds drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [r for r in rows if r.change is not None]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(shown) + 2), 4))
    xs = range(len(shown))
    vals = [r.change.ratio for r in shown]
    err = [[r.change.ratio - r.change.ci95[0] if r.change.ci95 else 0 for r in shown],
           [r.change.ci95[1] - r.change.ratio if r.change.ci95 else 0 for r in shown]]
    colors = ["tab:red" if r.verdict == "slower" else "tab:green" if r.verdict == "faster" else "tab:gray"
              for r in shown]
    ax.bar(xs, vals, yerr=err, color=colors, capsize=3)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(list(xs), [f"{r.device}\n{r.kernel}\n{_shape(r)}" for r in shown], fontsize=7)
    ax.set_ylabel("head / base speed (> 1: faster)")
    ax.set_title(summary_line(rows), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
