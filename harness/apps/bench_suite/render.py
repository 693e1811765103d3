"""The bench suite's report: results/bench.md (the table, the generated kernels, the tuning note)
and the charts (bench.png: each row's ratios with their CIs; roofline.png: the host's rows under
its measured FMA and bandwidth roofs, the 2-thread rows under a 2-core roof)."""
from __future__ import annotations

from pathlib import Path

from harness.apps.bench_suite.plan import (
    SMALL_M, TUNE_GEMM_BLOCKED, TUNE_GEMM_EMU, TUNE_GEMM_SMALL_M, Budgets, Row, SuiteKernel, _fmt_shape,
)
from harness.ops import get_op

def _ratio_text(v: dict | None) -> str:
    if not v:
        return "-"
    if v["metric"] == "modelled_cycles":
        return f"{v['ratio']:.3f}x (modelled)"
    ci = v.get("ratio_ci95")
    return f"{v['ratio']:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v['ratio']:.2f}x"


# ---- reporting -----------------------------------------------------------------------------
def kernels_markdown(kernels: list[SuiteKernel]) -> list[str]:
    """The generated kernels: how each was made, for which rows, and its ratio at its tuning shape."""
    if not kernels:
        return []
    out = ["Generated kernels (`kernel` column above):", "",
           "| device | kernel | op | used for | made by | chosen point | at its tuning shape vs OpenBLAS |",
           "|---|---|---|---|---|---|---|"]
    for k in kernels:
        at = _ratio_text(k.at_tune_shape) + (" (paired)" if k.at_tune_shape and
                                               k.at_tune_shape.get("metric") == "time" else "")
        out.append(f"| {k.device} | {k.label} | {k.op if k.dtype == 'f32' else f'{k.op} {k.dtype}'} | {k.role} | {k.made_by} | "
                   f"{k.point or k.error[:80]} | {at if k.at_tune_shape else '-'} |")
    return out + [""]


def to_markdown(rows: list[Row], micro: dict, meta: dict, kernels: list[SuiteKernel] | None = None) -> str:
    out = ["# tensorop benchmark suite", "",
           f"Command: `{meta['command']}` ({meta['date']}, {meta['wall_s']:.0f} s wall). "
           f"Generated = {meta['generated']}. OpenBLAS {meta['openblas']} single-threaded "
           "(host-2t: 2 threads); conv2d's OpenBLAS is im2col + OpenBLAS SGEMM; OpenBLAS and MKL call SGEMV "
           f"at M = 1. MKL (oneMKL {meta.get('mkl', '-')}, sequential; host-2t: 2 threads): GEMM on real x86-64 "
           "devices, on its AVX-512 (AMX where the CPU has it) path; oneDNN (Debian's libdnnl 2.6): conv2d on "
           "real x86-64 devices, reorders to its layouts inside the call; each MKL and oneDNN ratio is paired "
           "with the generated kernel like the OpenBLAS one.",
           "Host ratios are **paired** (both kernels in one driver, interleaved; ratio of medians, "
           "bootstrap 95% CI); > 1 means the generated kernel is faster. Emulated ratios are **modelled "
           "cycles** (QEMU block profile + llvm-mca core model; deterministic, no CI). GFLOP/s columns are "
           "each kernel's own trial: on the host unpaired (indicative only), on emulated devices modelled "
           "at the device's nominal clock.", ""]
    if meta.get("tuning"):
        out += [f"Tuning: {meta['tuning']}", ""]
    if meta.get("left_out"):
        out += ["Left out: " + "; ".join(f"{d} 1024x1024x1024: {why}" for d, why in meta["left_out"].items()) + ".", ""]
    if micro and "error" not in micro:
        out += [f"Host roofline (our micro-benchmarks, 1 core): peak FMA {micro['peak_gflops']:.0f} GFLOP/s, "
                f"streaming read {micro['dram_gbs']:.1f} GB/s (DRAM), {micro['l2_gbs']:.0f} GB/s (L2).", ""]
    has_before = any("before" in r.vs for r in rows)
    has_mkl = any("mkl" in r.vs or "mkl" in r.status for r in rows)
    has_dnn = any("onednn" in r.vs or "onednn" in r.status for r in rows)
    head = ["device", "op", "shape", "kernel", "metric", "gen GFLOP/s", "OpenBLAS GFLOP/s",
            *(["MKL GFLOP/s"] if has_mkl else []), *(["oneDNN GFLOP/s"] if has_dnn else []), "naive GFLOP/s",
            "gen vs OpenBLAS", *(["gen vs MKL"] if has_mkl else []), *(["gen vs oneDNN"] if has_dnn else []),
            "gen vs naive"] + (["after vs before"] if has_before else [])
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = lambda k: f"{r.gflops[k]:.1f}" if k in r.gflops else ("-" if k not in r.status else r.status[k][:20])
        cells = [r.device, r.op if r.dtype == "f32" else f"{r.op} {r.dtype}", _fmt_shape(r.shape, r.op), r.kernel, "paired time" if r.metric == "time" else "modelled",
                 g("generated"), g("openblas"), *([g("mkl")] if has_mkl else []),
                 *([g("onednn")] if has_dnn else []), g("naive"),
                 _ratio_text(r.vs.get("openblas")), *([_ratio_text(r.vs.get("mkl"))] if has_mkl else []),
                 *([_ratio_text(r.vs.get("onednn"))] if has_dnn else []),
                 _ratio_text(r.vs.get("naive"))] + ([_ratio_text(r.vs.get("before"))] if has_before else [])
        out.append("| " + " | ".join(cells) + " |")
    out += [""] + kernels_markdown(kernels or [])
    fails = [(r, k, v) for r in rows for k, v in r.status.items() if not v.startswith("ok")]
    if fails:
        out += ["Failures:", ""] + [f"- {r.device} {_fmt_shape(r.shape, r.op)} {k}: {v}" for r, k, v in fails]
    return "\n".join(out).rstrip("\n") + "\n"


def charts(rows: list[Row], micro: dict, out_dir: Path, stem: str = "bench") -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    rs = [r for r in rows if "openblas" in r.vs]
    if rs:
        fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rs)), 4.6))
        xs = range(len(rs))
        with_mkl = any("mkl" in r.vs or "onednn" in r.vs for r in rs)   # one vendor per row: GEMM MKL, conv oneDNN
        w = 0.4 if with_mkl else 0.8

        def bars(name, offset, colors, label):
            got = [(i, r.vs[name]) for i, r in enumerate(rs) if name in r.vs]
            if not got:
                return
            vals = [v["ratio"] for _, v in got]
            lo = [x - (v["ratio_ci95"] or [x, x])[0] for x, (_, v) in zip(vals, got)]
            hi = [(v["ratio_ci95"] or [x, x])[1] - x for x, (_, v) in zip(vals, got)]
            ax.bar([i + offset for i, _ in got], vals, width=w, color=[colors(rs[i]) for i, _ in got],
                   yerr=[lo, hi], capsize=3, label=label)
        bars("openblas", -w / 2 if with_mkl else 0, lambda r: "tab:blue" if r.metric == "time" else "tab:orange",
             "vs OpenBLAS")
        if with_mkl:
            bars("mkl", w / 2, lambda r: "tab:purple", "vs MKL (host, paired)")
            bars("onednn", w / 2, lambda r: "tab:red", "vs oneDNN (host, paired)")
            ax.legend(fontsize=7)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r.device}\n{_fmt_shape(r.shape, r.op)}" for r in rs], rotation=70, fontsize=6)
        ax.set_ylabel("speed vs the library (>1: generated faster)")
        ax.set_title("generated vs OpenBLAS: host paired time (blue, 95% CI), emulated modelled cycles (orange)"
                     + ("; vs MKL (purple) or oneDNN (red), 95% CI" if with_mkl else ""), fontsize=8)
        fig.tight_layout()
        p = out_dir / f"{stem}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    gemm = get_op("gemm", "f32")
    host = [r for r in rows if r.metric == "time" and r.gflops and r.op == "gemm"]
    if host and micro and "error" not in micro:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        peak, bw = micro["peak_gflops"], micro["dram_gbs"]
        import numpy as np
        ai = np.logspace(-1, 3, 200)
        threads = sorted({r.threads for r in host})
        for t in threads:      # one compute roof per thread count: the micro-benchmark's peak is one core's
            style = "k-" if t == 1 else "k--"
            ax.loglog(ai, np.minimum(peak * t, bw * ai), style, lw=1.2,
                      label=f"roof, {t} core{'s' if t > 1 else ''}: {peak * t:.0f} GFLOP/s, {bw:.0f} GB/s")
        if micro.get("l2_gbs"):
            ax.loglog(ai, np.minimum(peak, micro["l2_gbs"] * ai), "k:", lw=0.8, label=f"L2 {micro['l2_gbs']:.0f} GB/s")
        marks = {"generated": ("o", "tab:blue"), "openblas": ("s", "tab:green"), "mkl": ("D", "tab:purple"),
                 "naive": ("x", "tab:red")}
        for t in threads:
            for name, (m, c) in marks.items():
                pts = [(gemm.flops(r.shape) / (4.0 * (r.shape[0] * r.shape[2] + r.shape[2] * r.shape[1] +
                                                       r.shape[0] * r.shape[1])), r.gflops[name])
                       for r in host if name in r.gflops and r.threads == t]
                if pts:
                    ax.loglog(*zip(*pts), m, color=c, label=name + (f" ({t} threads)" if t > 1 else ""), ms=6,
                              mfc="none" if (m != "x" and t == 1) else None, alpha=1.0 if t == 1 else 0.6)
        ax.set_xlabel("arithmetic intensity, FLOP per compulsory DRAM byte")
        ax.set_ylabel("GFLOP/s (each kernel's own trial)")
        ax.set_title("host roofline (SGEMM; multi-thread points under their own roof)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / ("roofline.png" if stem == "bench" else f"{stem}-roofline.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def tuning_note(budgets: Budgets) -> str:
    """The meta line that states how the generated kernels were made (bench.md's header)."""
    if budgets.tune <= 0:
        return "none (--tune-budget 0): the expert generator's first plan point per device and op, untuned."
    if budgets.quick:
        return (f"--quick: `generate` ({budgets.rounds} candidates, short paired budgets) + MCTS {budgets.tune} "
                "trials, once per device and op at the first shape of the row group, reused for its shapes.")
    return (f"each generated kernel is what `tensorop generate \"<op> <shape> on <device>\" --tune-budget "
            f"{budgets.tune}` gives: {budgets.rounds} expert candidates compared with OpenBLAS by the one objective, "
            f"then MCTS on the one objective, {budgets.tune} trials; made once per device and kernel at a tuning "
            f"shape and reused for that kernel's shapes (a full trial, gate included, at every shape): GEMM "
            f"M > {SMALL_M} at {_fmt_shape(TUNE_GEMM_BLOCKED)}, GEMM M <= {SMALL_M} (the expert kernel's small-M "
            f"path) at {_fmt_shape(TUNE_GEMM_SMALL_M)}, emulated GEMM at {_fmt_shape(TUNE_GEMM_EMU)}, conv2d at the "
            f"64x56x56 -> 64 3x3 layer (batch as run). See the table of generated kernels below.")


