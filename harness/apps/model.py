"""`tensorop model validate K.c [K2.c ...] --shape MxNxK [--json]`: the cycle model against
native timings on this host (the library: harness/campaign/model_validation.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from harness.apps.common import err, out
from harness.campaign.model_validation import MISORDER_FACTOR, summarize, validate_kernels
from harness.config.lab import Lab
from harness.config.yamlfile import ConfigError
from harness.measure.model import memory
from harness.ops import gemm

model_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="The cycle model of emulated devices (llvm-mca).")


@model_app.command("validate")
def validate(kernels: List[str] = typer.Argument(..., help="Kernel files (AVX2/FMA or plain C), or 'openblas'."),
             shape: str = typer.Option("128x128x128", "--shape", "-s", help="MxNxK."),
             as_json: bool = typer.Option(False, "--json", help="One JSON object per kernel, then a summary."),
             max_time: Optional[float] = typer.Option(None, help="Sampling budget per native timing, s."),
             paired: float = typer.Option(0.0, "--paired", help="Also time each kernel paired with OpenBLAS for "
                                          "this many seconds; measured time = OpenBLAS's / the ratio (robust to "
                                          "a machine whose speed drifts)."),
             repeats: int = typer.Option(1, "--repeats", min=1, help="With --paired: pair each kernel with "
                                         "OpenBLAS this many times, each in a fresh process (fresh pages), and "
                                         "take the median ratio."),
             devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Time kernels natively on host and model them on x86-qemu; report how well cycles rank speed."""
    try:
        lab = Lab.load(devices_file=devices_file)
        M, N, K = gemm.parse_shape(shape)
    except (ConfigError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    try:
        rows = validate_kernels(lab, list(kernels), (M, N, K), max_time_s=max_time, paired_s=paired,
                               repeats=repeats)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    summ = summarize(rows)
    hier = memory.for_device(lab.device("x86-qemu")) if "x86-qemu" in lab.devices else None
    if hier:
        summ["x86_qemu_memory"] = hier.describe()
    if as_json:
        for r in rows:
            print(json.dumps(r))
        print(json.dumps({"summary": summ}))
    else:
        t = Table(title=f"cycle model vs native time, {M}x{N}x{K} (host vs x86-qemu, modelled)")
        for c in ("kernel", "status", "measured", "GFLOP/s", "modelled cycles", "core", "memory", "bound",
                  "implied GHz", "coverage"):
            t.add_column(c, justify="left" if c in ("kernel", "status", "bound") else "right")
        for r in rows:
            if r["cycles"]:
                t.add_row(r["kernel"], r["status"], f"{r['measured_s'] * 1e6:.1f} us", f"{r['measured_gflops']:.1f}",
                          f"{r['cycles']:.4g}", f"{r.get('core_cycles') or r['cycles']:.4g}",
                          f"{r.get('memory_cycles') or 0:.4g}", str(r.get("bound") or "core"),
                          f"{r['implied_ghz']:.2f}", f"{r['coverage']:.1%}")
            else:
                t.add_row(r["kernel"], r["status"], "", "", "", "", "", "", "", r["error"][:60])
        out.print(t)
        if hier:
            out.print(f"x86-qemu's memory: {hier.describe()}", highlight=False)
        if summ["spearman_rho"] is not None:
            out.print(f"Spearman rho (time vs modelled cycles) = {summ['spearman_rho']:.3f} over {summ['n']} "
                      f"kernels; implied clock median {summ['median_implied_ghz']:.2f} GHz, ratio error "
                      f"{summ['ratio_error_min']:+.0%} .. {summ['ratio_error_max']:+.0%}", highlight=False)
            for a, b in summ["misordered"]:
                out.print(f"[yellow]misordered:[/yellow] {a} is > {MISORDER_FACTOR}x faster than {b} "
                          f"but not modelled faster", highlight=False)
    bad = any(r["status"] != "ok" for r in rows)
    raise typer.Exit(1 if bad else 0)
