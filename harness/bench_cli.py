"""`tensorop bench-suite`: the command-line face of harness.bench_suite."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

err = Console(stderr=True)


def bench_suite(quick: bool = typer.Option(False, "--quick", help="Smoke test (~2 min): two host shapes, "
                                           "rv64-qemu at 128^3; writes results/bench-quick.*"),
                device: Optional[List[str]] = typer.Option(None, "--device", "-d", help="Only these devices."),
                budget: float = typer.Option(20.0, "--budget", help="Seconds of paired timing per host comparison."),
                before: bool = typer.Option(False, "--before", help="Also compare with the expert generator's "
                                            "kernel before issue 12 (benchmarks/before_kernels/)."),
                out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default results/)."),
                devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Generated vs OpenBLAS vs naive on host (paired) and emulated cores (modelled cycles):
    results/bench.md, bench.json, bench.png, roofline.png."""
    from .bench_suite import run_suite
    from .lab import Lab
    lab = Lab.load(devices_file=devices_file)
    res = run_suite(lab, quick=quick, devices=device or None, budget_s=budget, with_before=before, out_dir=out,
                    log=lambda s: err.print(s, highlight=False, markup=False))
    print(res["markdown"])
    for f in res["files"]:
        err.print(f"wrote {f}", highlight=False, markup=False)
    bad = [r for r in res["rows"] if "openblas" not in r.vs]
    raise typer.Exit(1 if (bad or res["meta"]["errors"]) else 0)
