"""`tensorop bench-suite` (`make bench`): generated kernels vs OpenBLAS vs naive (measure.py says
what and why; plan.py the plan, micro.py the host's roofline, render.py the report)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import sys

import typer
from rich.console import Console

from harness.apps.bench_suite.measure import run_suite
from harness.apps.bench_suite.plan import TUNE_BUDGET
from harness.config.lab import Lab

err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def bench_suite(quick: bool = typer.Option(False, "--quick", help="Smoke test (~1 min): host GEMM 256^3 and "
                                           "1x1024x1024 and one conv2d layer, rv64-qemu GEMM 128^3, each kernel "
                                           "generated with a 3-trial tuning stage; writes results/bench-quick.*"),
                device: Optional[List[str]] = typer.Option(None, "--device", "-d", help="Only these devices."),
                budget: float = typer.Option(20.0, "--budget", help="Seconds of paired timing per host comparison."),
                tune_budget: int = typer.Option(TUNE_BUDGET, "--tune-budget", help="MCTS trials of `generate`'s "
                                                "tuning stage for each generated kernel (made once per device and "
                                                "kernel at its tuning shape); 0: the expert generator's first "
                                                "point, untuned. --quick uses at most 3."),
                before: bool = typer.Option(False, "--before", help="Also compare with the expert generator's "
                                            "kernel before issue 12 (benchmarks/before_kernels/)."),
                out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default results/)."),
                devices_file: Optional[Path] = typer.Option(None, "--devices-file")):
    """Generated (`generate` + its tuning stage) vs OpenBLAS vs naive, GEMM and the paper's conv2d
    layers, on host (paired) and emulated cores (modelled cycles): results/bench.md, bench.json,
    bench.png, roofline.png."""
    lab = Lab.load(devices_file=devices_file)
    res = run_suite(lab, quick=quick, devices=device or None, budget_s=budget, with_before=before, out_dir=out,
                    tune_budget=tune_budget, devices_file=devices_file,
                    log=lambda s: err.print(s, highlight=False, markup=False))
    print(res["markdown"])
    for f in res["files"]:
        err.print(f"wrote {f}", highlight=False, markup=False)
    bad = [r for r in res["rows"] if "openblas" not in r.vs]
    raise typer.Exit(1 if (bad or res["meta"]["errors"]) else 0)
