"""`tensorop model validate K.c [K2.c ...] --shape MxNxK [--json]`: is the cycle model right
where real hardware exists? Each kernel is built once with the x86-qemu device's toolchain
(AVX2/FMA, Haswell class), timed natively on `host` (harness.measure.runner.run_trial) and modelled on
`x86-qemu` (the same binary under qemu-x86_64 with the tensorop plugin, then llvm-mca).
`openblas` as a kernel name is the OpenBLAS baseline with OPENBLAS_CORETYPE=Haswell.

Prints measured time, modelled cycles, the implied clock (cycles / measured seconds), the
Spearman rank correlation over kernels, the spread of the ratio error (each kernel's implied
clock over the median implied clock), and any pair that differs by more than 1.5x in measured
speed that the model orders the other way.
"""
from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

model_app = typer.Typer(no_args_is_help=True, help="The cycle model of emulated devices (llvm-mca).")
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

MISORDER_FACTOR = 1.5


def _kernel(ws, name: str, arch: str):
    from harness.backends import BaselineUnavailable
    from harness.backends.cpu.baselines import NAMES, baseline_kernel
    from harness.core.records import Kernel
    if name in NAMES and not Path(name).exists():
        return baseline_kernel(ws, name, arch)
    p = Path(name)
    if not p.is_file():
        raise BaselineUnavailable(f"{name}: no such file")
    return Kernel.from_file(p, label=p.stem)


def validate_kernels(lab, names: list[str], shape: tuple[int, int, int], *, host: str = "host",
                     emulated: str = "x86-qemu", max_time_s: float | None = None) -> list[dict]:
    """One record per kernel: kernel, status, measured_s, cycles, implied_ghz, insns, model,
    coverage, error. Failures are records, never exceptions."""
    from harness.backends import BaselineUnavailable
    from harness.ops import gemm
    from harness.core.records import Status
    from harness.transport import get_transport
    from harness.measure.runner import MeasureOptions, run_trial

    hdev, edev = lab.device(host), lab.device(emulated)
    tc = lab.toolchain(edev)
    # the host runs the very binary that is modelled, with the emulated device's OpenBLAS core type
    hdev = replace(hdev, env={**hdev.env, **{k: v for k, v in edev.env.items() if k.startswith("OPENBLAS_")}})
    opts = MeasureOptions.for_device(hdev, max_time_s=max_time_s)
    rows = []
    with get_transport(hdev, lab.ws) as tr:
        for name in names:
            row = {"kernel": name, "status": "device_error", "measured_s": None, "cycles": None,
                   "implied_ghz": None, "insns": None, "model": edev.core_model, "coverage": None,
                   "shape": list(shape), "error": ""}
            rows.append(row)
            try:
                k = _kernel(lab.ws, name, edev.arch)
            except BaselineUnavailable as e:
                row["error"] = str(e)
                continue
            if tc is None:
                row["error"] = f"toolchain {edev.toolchain!r} not defined"
                continue
            trial = run_trial(lab.ws, hdev, tc, tr, k, shape, opts)
            row["status"] = str(trial.status)
            if trial.status is not Status.OK or not trial.summary:
                row["error"] = trial.error
                continue
            row["measured_s"] = trial.summary.median
            row["measured_ci95"] = [trial.summary.ci_lo, trial.summary.ci_hi]
            with get_transport(edev, lab.ws) as etr:     # the same binary, one profiled call under QEMU
                et = run_trial(lab.ws, edev, tc, etr, k, shape, MeasureOptions.for_device(edev))
            if et.status is not Status.OK or not et.cycles:
                row["status"] = "model_error" if et.status is Status.DEVICE_ERROR else str(et.status)
                row["error"] = et.error or "no modelled cycles"
                continue
            row.update(cycles=et.cycles, insns=et.insns, model=et.model,
                       coverage=(et.meta.get("model") or {}).get("coverage"),
                       implied_ghz=et.cycles / row["measured_s"] / 1e9,
                       modelled_gflops=et.gflops, measured_gflops=gemm.flops(shape) / row["measured_s"] / 1e9)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Spearman rho of measured time vs modelled cycles, the ratio-error spread, misordered pairs."""
    ok = [r for r in rows if r.get("cycles") and r.get("measured_s")]
    res = {"n": len(ok), "spearman_rho": None, "spearman_p": None, "median_implied_ghz": None,
           "ratio_error_min": None, "ratio_error_max": None, "misordered": []}
    if len(ok) < 2:
        return res
    from scipy.stats import spearmanr
    rho, p = spearmanr([r["measured_s"] for r in ok], [r["cycles"] for r in ok])
    med = statistics.median(r["implied_ghz"] for r in ok)
    errs = [r["implied_ghz"] / med - 1 for r in ok]
    res.update(spearman_rho=float(rho), spearman_p=float(p), median_implied_ghz=med,
               ratio_error_min=min(errs), ratio_error_max=max(errs))
    for a in ok:
        for b in ok:
            if a["measured_s"] * MISORDER_FACTOR < b["measured_s"] and a["cycles"] >= b["cycles"]:
                res["misordered"].append([a["kernel"], b["kernel"]])
    return res


@model_app.command("validate")
def validate(kernels: List[str] = typer.Argument(..., help="Kernel files (AVX2/FMA or plain C), or 'openblas'."),
             shape: str = typer.Option("128x128x128", "--shape", "-s", help="MxNxK."),
             as_json: bool = typer.Option(False, "--json", help="One JSON object per kernel, then a summary."),
             max_time: Optional[float] = typer.Option(None, help="Sampling budget per native timing, s."),
             devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Time kernels natively on host and model them on x86-qemu; report how well cycles rank speed."""
    from harness.config.yamlfile import ConfigError
    from harness.config.lab import Lab
    try:
        lab = Lab.load(devices_file=devices_file)
        from harness.ops import gemm
        M, N, K = gemm.parse_shape(shape)
    except (ConfigError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    try:
        rows = validate_kernels(lab, list(kernels), (M, N, K), max_time_s=max_time)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    summ = summarize(rows)
    if as_json:
        for r in rows:
            print(json.dumps(r))
        print(json.dumps({"summary": summ}))
    else:
        t = Table(title=f"cycle model vs native time, {M}x{N}x{K} (host vs x86-qemu, modelled)")
        for c in ("kernel", "status", "measured", "GFLOP/s", "modelled cycles", "insns", "implied GHz",
                  "coverage"):
            t.add_column(c, justify="left" if c in ("kernel", "status") else "right")
        for r in rows:
            if r["cycles"]:
                t.add_row(r["kernel"], r["status"], f"{r['measured_s'] * 1e6:.1f} us", f"{r['measured_gflops']:.1f}",
                          f"{r['cycles']:.4g}", f"{r['insns']:.4g}", f"{r['implied_ghz']:.2f}",
                          f"{r['coverage']:.1%}")
            else:
                t.add_row(r["kernel"], r["status"], "", "", "", "", "", r["error"][:60])
        out.print(t)
        if summ["spearman_rho"] is not None:
            out.print(f"Spearman rho (time vs modelled cycles) = {summ['spearman_rho']:.3f} over {summ['n']} "
                      f"kernels; implied clock median {summ['median_implied_ghz']:.2f} GHz, ratio error "
                      f"{summ['ratio_error_min']:+.0%} .. {summ['ratio_error_max']:+.0%}", highlight=False)
            for a, b in summ["misordered"]:
                out.print(f"[yellow]misordered:[/yellow] {a} is > {MISORDER_FACTOR}x faster than {b} "
                          f"but not modelled faster", highlight=False)
    bad = any(r["status"] != "ok" for r in rows)
    raise typer.Exit(1 if bad else 0)
