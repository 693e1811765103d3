"""`tensorop bench-suite` (`make bench`): the one-command benchmark of issue 12.

For each device: the expert generator's kernel (its first plan point for the device: what
`generate` starts from; not tuned per shape yet), OpenBLAS 0.3.34 and the naive triple loop, each through the full trial (build,
object gate, correctness gate, measurement). Comparisons use the one objective:
- host: `objective.paired` (both kernels linked into one driver, timed interleaved), ratio of
  medians with a bootstrap 95% CI; GFLOP/s figures beside them are each kernel's own trial
  (indicative: unpaired, on a shared 2-vCPU VM);
- emulated devices: modelled cycles of one call (QEMU block profile + llvm-mca core model).
Plus a roofline for the host from two micro-benchmarks (peak FMA, streaming read bandwidth)
built with the host's toolchain and run through the device's sandboxed transport.

Writes results/bench.md, results/bench.json, results/bench.png and results/roofline.png.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import objective
from .baselines import baseline_kernel
from .ops import gemm
from .records import Artifact, Status
from .trial import Kernel, MeasureOptions, run_trial

SQUARE = [(n, n, n) for n in (256, 512, 1024, 2048)]
# LLM inference (MxNxK): M tokens against 4096x4096 (attention projections), 4096->11008 (MLP up,
# N=11008) and 11008->4096 (MLP down, K=11008). A subset that fits the 30-minute budget.
LLM = [(1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096), (1, 11008, 4096), (16, 11008, 4096),
       (16, 4096, 11008)]
EMULATED = ["rv64-qemu", "rv64-qemu-vlen128", "arm64-qemu", "a76-qemu"]
# 2 threads (devices.yaml host-2t: the kernel and OpenBLAS both get 2 threads), timed after the
# emulated devices are done so QEMU does not take one of the two cores
THREADED = ["host-2t"]
THREADED_SHAPES = [(1024, 1024, 1024), (2048, 2048, 2048), (1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096)]
EMU_SHAPES = [(256, 256, 256), (512, 512, 512)]
NAIVE_MAX_FLOPS = 2.2e9           # host: naive only where one call takes well under a second
NAIVE_MAX_FLOPS_EMU = 4e7         # emulated: naive under QEMU is slow (256^3 = 3.4e7)
QUICK_HOST = [(256, 256, 256), (1, 1024, 1024)]
QUICK_EMU = {"rv64-qemu": [(128, 128, 128)]}
BEFORE_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "before_kernels"


@dataclass
class Row:
    device: str
    shape: tuple[int, int, int]
    metric: str                               # time | modelled_cycles
    kernel: str = ""                          # the generated kernel's label
    gflops: dict = field(default_factory=dict)      # kernel -> GFLOP/s (own trial; modelled on emulated)
    cycles: dict = field(default_factory=dict)      # kernel -> modelled cycles per call
    vs: dict = field(default_factory=dict)          # "openblas" | "naive" | "before" -> Ratio.to_json()
    status: dict = field(default_factory=dict)      # kernel -> status (+ error)

    def to_json(self) -> dict:
        return {"device": self.device, "shape": list(self.shape), "metric": self.metric, "kernel": self.kernel,
                "gflops": self.gflops, "cycles": self.cycles, "vs": self.vs, "status": self.status}


def _fmt_shape(s) -> str:
    return "x".join(str(x) for x in s)


# ---- the kernels ---------------------------------------------------------------------------
def generated_kernel(lab, device) -> Kernel:
    """The expert generator's kernel for the device: its first plan point (what `generate` and
    `tune` start from). Tuning per shape is not part of the suite yet (time budget)."""
    from .generate.expert import ExpertGenerator
    from .generate.hardware import comprehend
    from .generate.templates import render
    hw = comprehend(lab, device, run_probe=True)
    ps, point = ExpertGenerator().plan(hw, 1)[0]
    l1 = hw.caches.get("l1d", 48 * 1024)
    label = f"expert-{ps}"
    return Kernel(label=label, source=render(ps, point, l1_bytes=l1).encode(), name=f"{label}.c")


def before_kernel(device_name: str) -> Kernel | None:
    p = BEFORE_DIR / f"{device_name}.c"
    return Kernel.from_file(p, label="before") if p.is_file() else None


# ---- measuring -----------------------------------------------------------------------------
def _trial(lab, device, tr, kernel, shape, opts):
    return run_trial(lab.ws, device, lab.toolchain(device), tr, kernel, shape, opts)


def _record(row: Row, name: str, t) -> None:
    row.status[name] = t.status.value + (f": {t.error[:160]}" if t.status is not Status.OK else "")
    if t.status is Status.OK:
        if t.gflops:
            row.gflops[name] = round(t.gflops, 2)
        if t.cycles:
            row.cycles[name] = t.cycles


def measure_device(lab, device, shapes, *, budget_s: float, with_before: bool,
                   naive_max: float, log=print) -> list[Row]:
    from .transport import get_transport
    rows = []
    metric = "modelled_cycles" if device.emulated else "time"
    opts = MeasureOptions.for_device(device, **({} if device.emulated else {"max_time_s": 2.0, "max_samples": 30}))
    base = {"openblas": baseline_kernel(lab.ws, "openblas", device.arch),
            "naive": baseline_kernel(lab.ws, "naive", device.arch)}
    bk = before_kernel(device.name) if with_before else None
    gen = generated_kernel(lab, device)
    with get_transport(device, lab.ws) as tr:
        for shape in shapes:
            t0 = time.monotonic()
            row = Row(device.name, shape, metric, gen.label)
            others = {"openblas": base["openblas"]}
            if gemm.flops(shape) <= naive_max:
                others["naive"] = base["naive"]
            if bk is not None:
                others["before"] = bk
            tg = _trial(lab, device, tr, gen, shape, opts)
            _record(row, "generated", tg)
            tos = {}
            for name, k in others.items():
                tos[name] = _trial(lab, device, tr, k, shape, opts)
                _record(row, name, tos[name])
            for name, k in others.items():
                tb = tos[name]
                if tg.status is not Status.OK or tb.status is not Status.OK:
                    continue
                if device.emulated:
                    r = objective.modelled_ratio(tg, tb)
                else:
                    run = objective.paired(lab.ws, device, lab.toolchain(device), tr, gen, k, shape, target=0.02,
                                           budget_s=budget_s if name == "openblas" else budget_s / 2, opts=opts)
                    r = run.ratio
                    if run.status is not Status.OK:
                        row.status[f"paired-{name}"] = f"{run.status.value}: {run.error[:160]}"
                        r = None
                if r is not None:
                    row.vs[name] = r.to_json()
            rows.append(row)
            log(f"{device.name} {_fmt_shape(shape)}: " + ", ".join(
                f"vs {n} {_ratio_text(v)}" for n, v in row.vs.items()) + f"  ({time.monotonic() - t0:.0f} s)")
    return rows


def _ratio_text(v: dict | None) -> str:
    if not v:
        return "-"
    if v["metric"] == "modelled_cycles":
        return f"{v['ratio']:.3f}x (modelled)"
    ci = v.get("ratio_ci95")
    return f"{v['ratio']:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v['ratio']:.2f}x"


# ---- roofline micro-benchmarks ---------------------------------------------------------------
MICRO_C = r"""
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double best_fma(long iters) {
    __m512 a[16], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
                         "+v"(a[6]), "+v"(a[7]));
    }
    double t = now() - t0;
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    float out[16]; _mm512_storeu_ps(out, s);
    if (out[0] == 12345.f) puts("");
    return iters * 16.0 * 32.0 / t / 1e9;     /* GFLOP/s: 16 FMAs x 16 lanes x 2 */
}
static double best_read(const float *x, size_t n) {
    double t0 = now();
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    double t = now() - t0;
    float out[16]; _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    if (out[0] == 12345.f) puts("");
    return n * 4.0 / t / 1e9;                  /* GB/s */
}
int main(void) {
    double fma = 0, bw = 0, l2 = 0;
    for (int r = 0; r < 7; r++) { double g = best_fma(20000000); if (g > fma) fma = g; }
    size_t n = (size_t)64 << 20;               /* 256 MiB: DRAM */
    float *x = aligned_alloc(64, n * 4);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    for (int r = 0; r < 5; r++) { double g = best_read(x, n); if (g > bw) bw = g; }
    size_t m = (size_t)256 << 10;              /* 1 MiB: L2 */
    for (int r = 0; r < 200; r++) { double g = best_read(x, m); if (g > l2) l2 = g; }
    char buf[200];
    int len = snprintf(buf, sizeof buf, "{\"peak_gflops\": %.2f, \"dram_gbs\": %.2f, \"l2_gbs\": %.2f}\n", fma, bw, l2);
    if (write(3, buf, (size_t)len) < 0) puts(buf);
    return 0;
}
"""


def roofline_micro(lab, device, quick: bool = False) -> dict:
    """Peak single-core FMA GFLOP/s and streaming read bandwidth (DRAM, L2) of the host, from our
    own C micro-benchmarks built with the device's toolchain and run through its transport."""
    from .transport import get_transport
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if cc is None:
        return {"error": "no compiler"}
    src = MICRO_C
    if quick:
        src = src.replace("20000000", "2000000").replace("r < 200", "r < 20")
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="micro-", dir=lab.ws.scratch) as d:
        s, exe = Path(d) / "micro.c", Path(d) / "micro"
        s.write_text(src)
        p = subprocess.run([cc, *tc.cflags, str(s), "-o", str(exe), *tc.ldflags], capture_output=True, text=True,
                           timeout=120, env=tc.environ())
        if p.returncode != 0:
            return {"error": f"build: {p.stderr[-300:]}"}
        with get_transport(device, lab.ws) as tr:
            r = tr.run(Artifact(key="roofline-micro", executable=exe), [], timeout_s=120)
    text = (r.channel or b"").decode(errors="replace").strip() or r.stdout.strip()
    try:
        return json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"micro-benchmark printed no answer (rc {r.returncode}): {r.stderr[-200:]}"}


# ---- reporting -----------------------------------------------------------------------------
def to_markdown(rows: list[Row], micro: dict, meta: dict) -> str:
    out = ["# tensorop benchmark suite", "",
           f"Command: `{meta['command']}` ({meta['date']}, {meta['wall_s']:.0f} s wall). "
           f"Generated = {meta['generated']}. OpenBLAS {meta['openblas']} single-threaded.",
           "Host ratios are **paired** (both kernels in one driver, interleaved; ratio of medians, "
           "bootstrap 95% CI); > 1 means the generated kernel is faster. Emulated ratios are **modelled "
           "cycles** (QEMU block profile + llvm-mca core model; deterministic, no CI). GFLOP/s columns are "
           "each kernel's own trial: on the host unpaired (indicative only), on emulated devices modelled "
           "at the device's nominal clock.", ""]
    if micro and "error" not in micro:
        out += [f"Host roofline (our micro-benchmarks, 1 core): peak FMA {micro['peak_gflops']:.0f} GFLOP/s, "
                f"streaming read {micro['dram_gbs']:.1f} GB/s (DRAM), {micro['l2_gbs']:.0f} GB/s (L2).", ""]
    has_before = any("before" in r.vs for r in rows)
    head = ["device", "shape (MxNxK)", "metric", "gen GFLOP/s", "OpenBLAS GFLOP/s", "naive GFLOP/s",
            "gen vs OpenBLAS", "gen vs naive"] + (["after vs before"] if has_before else [])
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = lambda k: f"{r.gflops[k]:.1f}" if k in r.gflops else ("-" if k not in r.status else r.status[k][:20])
        cells = [r.device, _fmt_shape(r.shape), "paired time" if r.metric == "time" else "modelled",
                 g("generated"), g("openblas"), g("naive"), _ratio_text(r.vs.get("openblas")),
                 _ratio_text(r.vs.get("naive"))] + ([_ratio_text(r.vs.get("before"))] if has_before else [])
        out.append("| " + " | ".join(cells) + " |")
    fails = [(r, k, v) for r in rows for k, v in r.status.items() if not v.startswith("ok")]
    if fails:
        out += ["", "Failures:", ""] + [f"- {r.device} {_fmt_shape(r.shape)} {k}: {v}" for r, k, v in fails]
    return "\n".join(out) + "\n"


def charts(rows: list[Row], micro: dict, out_dir: Path, stem: str = "bench") -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    rs = [r for r in rows if "openblas" in r.vs]
    if rs:
        fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rs)), 4.2))
        xs = range(len(rs))
        vals = [r.vs["openblas"]["ratio"] for r in rs]
        lo = [v - (r.vs["openblas"]["ratio_ci95"] or [v, v])[0] for v, r in zip(vals, rs)]
        hi = [(r.vs["openblas"]["ratio_ci95"] or [v, v])[1] - v for v, r in zip(vals, rs)]
        colors = ["tab:blue" if r.metric == "time" else "tab:orange" for r in rs]
        ax.bar(xs, vals, color=colors, yerr=[lo, hi], capsize=3)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r.device}\n{_fmt_shape(r.shape)}" for r in rs], rotation=70, fontsize=7)
        ax.set_ylabel("speed vs OpenBLAS (>1: generated faster)")
        ax.set_title("generated vs OpenBLAS: host paired time (blue, 95% CI), emulated modelled cycles (orange)",
                     fontsize=8)
        fig.tight_layout()
        p = out_dir / f"{stem}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    host = [r for r in rows if r.metric == "time" and r.gflops]
    if host and micro and "error" not in micro:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        peak, bw = micro["peak_gflops"], micro["dram_gbs"]
        import numpy as np
        ai = np.logspace(-1, 3, 200)
        ax.loglog(ai, np.minimum(peak, bw * ai), "k-", lw=1.2, label=f"roof: {peak:.0f} GFLOP/s, {bw:.0f} GB/s")
        if micro.get("l2_gbs"):
            ax.loglog(ai, np.minimum(peak, micro["l2_gbs"] * ai), "k:", lw=0.8, label=f"L2 {micro['l2_gbs']:.0f} GB/s")
        marks = {"generated": ("o", "tab:blue"), "openblas": ("s", "tab:green"), "naive": ("x", "tab:red")}
        for name, (m, c) in marks.items():
            pts = [(gemm.flops(r.shape) / (4.0 * (r.shape[0] * r.shape[2] + r.shape[2] * r.shape[1] +
                                                   r.shape[0] * r.shape[1])), r.gflops[name])
                   for r in host if name in r.gflops]
            if pts:
                ax.loglog(*zip(*pts), m, color=c, label=name, ms=6, mfc="none" if m != "x" else None)
        ax.set_xlabel("arithmetic intensity, FLOP per compulsory DRAM byte")
        ax.set_ylabel("GFLOP/s (each kernel's own trial, 1 core)")
        ax.set_title("host roofline (SGEMM, 1 thread)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / ("roofline.png" if stem == "bench" else f"{stem}-roofline.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


# ---- the command ---------------------------------------------------------------------------
def run_suite(lab, *, quick: bool = False, devices: list[str] | None = None, budget_s: float = 20.0,
              with_before: bool = False, out_dir: Path | None = None,
              emu_shapes=None, host_shapes=None, log=print) -> dict:
    started = time.monotonic()
    out_dir = out_dir or lab.ws.root / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = devices or (["host"] + (list(QUICK_EMU) if quick else
                                    EMULATED + [n for n in THREADED if n in lab.devices]))
    names = [lab.device(n).name for n in names]
    if quick:
        budget_s = min(budget_s, 6.0)
    plan = {}
    for n in names:
        dev = lab.devices[n]
        if dev.emulated:
            plan[n] = emu_shapes or (QUICK_EMU.get(n, [(128, 128, 128)]) if quick else EMU_SHAPES)
        elif objective.threads_allowed(dev) > 1:
            plan[n] = host_shapes or (QUICK_HOST if quick else THREADED_SHAPES)
        else:
            plan[n] = host_shapes or (QUICK_HOST if quick else SQUARE + LLM)
    results: dict[str, list[Row]] = {}
    errors: dict[str, str] = {}

    emu_names = [n for n in names if lab.devices[n].emulated]
    host_names = [n for n in names if not lab.devices[n].emulated and objective.threads_allowed(lab.devices[n]) == 1]
    threaded_names = [n for n in names if not lab.devices[n].emulated and objective.threads_allowed(lab.devices[n]) > 1]

    def emu_worker():          # the emulated devices on the second core, while the host is timed
        if host_names and emu_names:
            return emu_child()
        for n in emu_names:
            try:
                results[n] = measure_device(lab, lab.devices[n], plan[n], budget_s=budget_s,
                                            with_before=with_before, naive_max=NAIVE_MAX_FLOPS_EMU, log=log)
            except Exception as e:   # one device's failure is reported, never stops the suite
                errors[n] = f"{type(e).__name__}: {e}"
                log(f"{n}: {errors[n]}")
    # the roofline's micro-benchmarks first, on a machine not yet busy with QEMU, and again at the
    # end; the best of each figure is the ceiling (a shared VM only ever makes them lower)
    hosts = [n for n in names if not lab.devices[n].emulated and lab.devices[n].transport == "local"
             and lab.devices[n].arch in ("native", "x86_64")]
    micro = {}
    if hosts:
        micro = roofline_micro(lab, lab.devices[hosts[0]], quick=quick)
        log(f"{hosts[0]}: roofline micro-benchmarks {micro}")
    def emu_child():
        """The emulated devices in a child process: two threads of one process computing NumPy
        references at once (OpenBLAS underneath, spinning threads) slow each other down ~100x."""
        import os
        import sys
        with tempfile.TemporaryDirectory(prefix="bench-emu-", dir=lab.ws.scratch) as d:
            cmd = [sys.executable, "-m", "harness.cli", "bench-suite", "--out", d, "--budget", str(budget_s)]
            cmd += [a for n in emu_names for a in ("--device", n)]
            cmd += (["--quick"] if quick else []) + (["--before"] if with_before else [])
            env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
            proc = subprocess.Popen(cmd, cwd=lab.ws.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            for line in proc.stderr:
                if not line.startswith("wrote "):
                    log(line.rstrip())
            proc.wait()
            f = Path(d) / ("bench-quick.json" if quick else "bench.json")
            if not f.is_file():
                errors["emulated"] = f"the emulated devices' run wrote no results (exit {proc.returncode})"
                return
            data = json.loads(f.read_text())
            errors.update(data["meta"].get("errors") or {})
            for r in data["rows"]:
                row = Row(r["device"], tuple(r["shape"]), r["metric"], r["kernel"], r["gflops"], r["cycles"], r["vs"],
                          r["status"])
                results.setdefault(row.device, []).append(row)

    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    th = threading.Thread(target=emu_worker, daemon=True)
    th.start()
    for n in host_names:
        dev = lab.devices[n]
        try:
            results[n] = measure_device(lab, dev, plan[n], budget_s=budget_s,
                                        with_before=with_before, naive_max=NAIVE_MAX_FLOPS, log=log)
        except Exception as e:
            errors[n] = f"{type(e).__name__}: {e}"
            log(f"{n}: {errors[n]}")
    th.join()
    for n in threaded_names:     # after QEMU is done: both cores for the 2-thread kernels
        try:
            results[n] = measure_device(lab, lab.devices[n], plan[n], budget_s=budget_s, with_before=with_before,
                                        naive_max=0, log=log)
        except Exception as e:
            errors[n] = f"{type(e).__name__}: {e}"
            log(f"{n}: {errors[n]}")
    if hosts and "error" not in micro:
        again = roofline_micro(lab, lab.devices[hosts[0]], quick=quick)
        if "error" not in again:
            micro = {k: max(v, again.get(k, 0)) for k, v in micro.items()}
            log(f"{hosts[0]}: roofline micro-benchmarks again {again}; kept the best of each")
    rows = [r for n in names for r in results.get(n, [])]
    import datetime
    import sys
    meta = {"command": "tensorop bench-suite" + (" --quick" if quick else "") + (" --before" if with_before else "")
            + (f" --budget {budget_s:g}" if budget_s != 20.0 and not quick else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_s": time.monotonic() - started,
            "generated": "the expert generator's default point per device (untuned)",
            "openblas": "0.3.34 (scipy-openblas32)", "budget_s": budget_s, "errors": errors,
            "argv": sys.argv}
    md = to_markdown(rows, micro, meta)
    if errors:
        md += "\nDevice errors:\n\n" + "\n".join(f"- {k}: {v}" for k, v in errors.items()) + "\n"
    stem = "bench-quick" if quick else "bench"
    (out_dir / f"{stem}.md").write_text(md)
    (out_dir / f"{stem}.json").write_text(json.dumps({"meta": meta, "micro": micro,
                                                      "rows": [r.to_json() for r in rows]}, indent=1))
    pngs = charts(rows, micro, out_dir, stem)
    return {"markdown": md, "rows": rows, "micro": micro, "meta": meta, "files": [out_dir / f"{stem}.md", *pngs]}
