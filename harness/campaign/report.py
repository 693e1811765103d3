"""Tables of trials: rich for people, Markdown and CSV for files.

Ratios against OpenBLAS come from the one objective (harness.measure.compare), never from two
trials measured at different times: on real devices the paired, interleaved comparison stored
with the trial (`bench --against`, generate), with its 95% CI; on emulated devices modelled
cycles (OpenBLAS cycles / kernel cycles of the latest OpenBLAS trial on the same device, op,
shape and dtype; deterministic). > 1 is faster than OpenBLAS. Emulated figures are labelled
"modelled"; a row without a paired comparison shows no ratio.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from harness.measure import compare as objective
from harness.core.records import Status, Trial


@dataclass(frozen=True)
class Row:
    trial: Trial
    vs_openblas: float | None
    basis: str                    # "time" (paired) or "modelled_cycles" or ""
    ci95: tuple[float, float] | None = None


def latest(trials: list[Trial]) -> list[Trial]:
    """The newest trial per (device, op, shape, dtype, kernel label)."""
    best: dict[tuple, Trial] = {}
    for t in trials:
        k = (t.device, t.op, t.shape, t.dtype, t.kernel)
        if k not in best or (t.id or 0) > (best[k].id or 0):
            best[k] = t
    return sorted(best.values(), key=lambda t: (t.device, t.op, t.shape, t.kernel))


def with_ratios(trials: list[Trial], baselines: list[Trial] | None = None) -> list[Row]:
    pool = baselines if baselines is not None else trials
    ob: dict[tuple, Trial] = {}
    for t in pool:
        if t.kernel == "openblas" and t.status is Status.OK and t.emulated and t.cycles:
            k = (t.device, t.op, t.shape, t.dtype)
            if k not in ob or (t.id or 0) > (ob[k].id or 0):
                ob[k] = t
    rows = []
    for t in trials:
        row = Row(t, None, "")
        if t.status is Status.OK and t.kernel != "openblas":
            if t.emulated:
                b = ob.get((t.device, t.op, t.shape, t.dtype))
                r = objective.modelled_ratio(t, b) if b else None
                if r:
                    row = Row(t, r.ratio, r.metric)
            elif t.emulation != "system":         # a board in QEMU system mode: no speed ratio at all
                p = t.meta.get("paired") or {}
                if p.get("against") == "openblas" and p.get("ratio"):
                    ci = tuple(p["ratio_ci95"]) if p.get("ratio_ci95") else None
                    row = Row(t, float(p["ratio"]), "time", ci)
        rows.append(row)
    return rows


HEADERS = ("id", "device", "kernel", "op", "shape", "status", "GFLOP/s", "median", "95% CI", "CV", "n",
           "cycles", "insns", "vs OpenBLAS", "max rel err", "note")


def _fmt_time(s: float | None) -> str:
    if s is None:
        return ""
    for unit, f in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if s * f >= 1:
            return f"{s * f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _cells(r: Row) -> list[str]:
    t, s = r.trial, r.trial.summary
    note = t.error.splitlines()[0][:90] if t.error else ""
    if t.emulated:
        label = f"modelled ({t.model})" if t.model else "emulated"
        note = f"{label}; {note}" if note else label
    elif t.emulation == "system":
        label = "emulated (QEMU system mode: the emulator's time, not the board's)"
        note = f"{label}; {note}" if note else label
    ratio = ""
    if r.vs_openblas is not None:
        if r.basis == "modelled_cycles":
            ratio = f"{r.vs_openblas:.2f}x (modelled)"
        else:
            ratio = f"{r.vs_openblas:.2f}x" + (f" [{r.ci95[0]:.2f}, {r.ci95[1]:.2f}]" if r.ci95 else "") + " (paired)"
    return [
        str(t.id or ""), t.device, t.kernel, f"{t.op} {t.dtype}", "x".join(map(str, t.shape)), t.status.value,
        (f"{t.gflops:.2f}" + (" mod." if t.emulated else " emu." if t.emulation == "system" else ""))
        if t.gflops else "", _fmt_time(s.median if s else None),
        f"{_fmt_time(s.ci_lo)} .. {_fmt_time(s.ci_hi)}" if s else "",
        f"{100 * s.cv:.1f}%" if s and s.cv == s.cv else "", str(s.n) if s else "",
        f"{t.cycles:,.0f}" if t.cycles else "", f"{t.insns:,}" if t.insns else "", ratio,
        f"{t.max_rel_err:.1e}" if t.max_rel_err is not None and t.max_rel_err != float("inf") else "", note,
    ]


def rich_table(rows: list[Row], title: str = "tensorop results") -> Table:
    table = Table(title=title, show_lines=False)
    for h in HEADERS:
        table.add_column(h, justify="right" if h in ("GFLOP/s", "median", "n", "cycles", "insns", "vs OpenBLAS", "CV", "id")
                         else "left", overflow="fold")
    for r in rows:
        cells = _cells(r)
        style = None if r.trial.status is Status.OK else "red"
        table.add_row(*cells, style=style)
    return table


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "created_at", "campaign", "device", "emulated", "kernel", "op", "dtype", "shape", "status",
                "gflops", "median_s", "ci_lo_s", "ci_hi_s", "cv", "n", "inner_loops", "cycles", "model", "insns",
                "vs_openblas", "ratio_basis", "ratio_ci_lo", "ratio_ci_hi", "max_rel_err", "toolchain", "error"])
    for r in rows:
        t, s = r.trial, r.trial.summary
        w.writerow([t.id, t.created_at, t.campaign, t.device,
                    1 if t.emulated else "system" if t.emulation == "system" else 0, t.kernel, t.op, t.dtype,
                    "x".join(map(str, t.shape)), t.status.value, t.gflops, s.median if s else "",
                    s.ci_lo if s else "", s.ci_hi if s else "", s.cv if s else "", s.n if s else 0, t.inner_loops,
                    t.cycles or "", t.model, t.insns or "", r.vs_openblas or "", r.basis,
                    r.ci95[0] if r.ci95 else "", r.ci95[1] if r.ci95 else "", t.max_rel_err, t.toolchain,
                    t.error.splitlines()[0] if t.error else ""])
    return buf.getvalue()


def print_table(rows: list[Row], title: str = "tensorop results", console: Console | None = None) -> None:
    (console or Console()).print(rich_table(rows, title))


# ---- a kernel's history (`report --history KERNEL`) ---------------------------------------------
HISTORY_HEADERS = ("time", "campaign", "device", "shape", "status", "figure", "tensorop", "kernel source")


def _commit(prov: dict, key: str) -> str:
    c = prov.get(f"{key}_commit") or ""
    if not c:
        return "-"
    return c[:10] + ("+dirty" if prov.get(f"{key}_dirty") else "")


def history(trials: list[Trial], kernel: str) -> list[tuple[str, ...]]:
    """Every stored trial of `kernel` (its label), oldest first, with the figure a comparison
    uses (modelled cycles on emulated devices, median time on real ones) and the commits of
    tensorop and of the kernel's source (from the trial's provenance)."""
    rows = []
    for t in trials:
        if t.kernel != kernel:
            continue
        prov = t.meta.get("provenance", {})
        fig = (f"{t.cycles:,.0f} cycles" if t.cycles else _fmt_time(t.summary.median) if t.summary else "-") \
            if t.status is Status.OK else "-"
        rows.append((t.created_at, t.campaign, t.device, "x".join(map(str, t.shape)), t.status.value, fig,
                     _commit(prov, "tensorop"), _commit(prov, "kernel")))
    return rows


def history_chart(trials: list[Trial], kernel: str, path) -> None:
    """The kernel's figure over its trials, one line per (device, shape): modelled cycles or
    median seconds, labelled by the kernel source's commit."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series: dict[tuple, list[tuple[str, float, str]]] = {}
    for t in trials:
        if t.kernel != kernel or t.status is not Status.OK:
            continue
        y = t.cycles or (t.summary.median if t.summary else None)
        if y:
            series.setdefault((t.device, "x".join(map(str, t.shape)), "cycles" if t.cycles else "s"), []).append(
                (t.created_at, y, _commit(t.meta.get("provenance", {}), "kernel")))
    fig, axes = plt.subplots(len(series) or 1, 1, figsize=(8, 2.6 * max(1, len(series))), squeeze=False)
    for ax, ((dev, shape, unit), pts) in zip(axes[:, 0], sorted(series.items())):
        ax.plot(range(len(pts)), [p[1] for p in pts], marker="o")
        ax.set_xticks(range(len(pts)), [p[2] for p in pts], rotation=30, fontsize=7)
        ax.set_title(f"{kernel} on {dev}, {shape}", fontsize=9)
        ax.set_ylabel("modelled cycles" if unit == "cycles" else "median s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
