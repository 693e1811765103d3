"""`tensorop bench K.c ... [--against openblas|mkl|naive|FILE]`: verify and time kernel files on
devices; with --against, each compared with another kernel or a baseline by the one objective."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from harness.apps.build import build_files
from harness.apps.common import err, fail, load_lab
from harness.apps.jobs import execute, overrides, task_shapes
from harness.apps.options import (
    ConfigOpt, DeviceOpt, DtypeOpt, FlushOpt, JsonOpt, MaxSamplesOpt, MaxTimeOpt, MinSamplesOpt, OpOpt, RelCiOpt,
    ScaleOpt, ShapesOpt, SuiteOpt, WarmupOpt,
)
from harness.backends import BASELINE_NAMES, BaselineUnavailable, device_baseline
from harness.backends.cpu.object_gate import RULES
from harness.campaign.scheduler import Job
from harness.core.records import Kernel


def bench(kernels: List[Path] = typer.Argument(..., help="Kernel C files implementing the op's ABI."),
          op: str = OpOpt, dtype: str = DtypeOpt, shape: Optional[List[str]] = ShapesOpt,
          suite: Optional[str] = SuiteOpt, scale: float = ScaleOpt,
          device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
          cflags: List[str] = typer.Option([], "--cflag", help="Extra compiler flag (repeatable)."),
          max_time: Optional[float] = MaxTimeOpt, min_samples: Optional[int] = MinSamplesOpt,
          max_samples: Optional[int] = MaxSamplesOpt, warmup: Optional[int] = WarmupOpt,
          rel_ci: Optional[float] = RelCiOpt, flush: bool = FlushOpt,
          resume: Optional[str] = typer.Option(None, "--resume", help="Continue this campaign id (or 'last', the "
                                               "most recent): run only the trials it has not finished (device "
                                               "errors are re-run and replace the failed ones)."),
          against: Optional[str] = typer.Option(None, "--against", help="Compare each kernel with a baseline "
                                                "(`openblas`, `mkl`, `naive`) or another kernel file: paired interleaved time on real "
                                                "devices (ratio of medians, bootstrap 95% CI, Mann-Whitney p), "
                                                "modelled cycles on emulated ones."),
          target: float = typer.Option(0.02, "--target", help="Paired comparisons sample until the ratio's CI "
                                       "half-width is at most this fraction (or the budget is spent)."),
          budget: float = typer.Option(60.0, "--budget", help="Seconds of paired timing per comparison."),
          trust: List[str] = typer.Option([], "--trust", help="Relax a named object-gate rule for this trusted "
                                          "kernel (symbols, addresses, definitions, constructors, syscalls); "
                                          "recorded with the trial."),
          build_only: bool = typer.Option(False, "--build-only", help="Compile, gate and inspect only (as "
                                          "`tensorop build`): for a CUDA device the compile-only report."),
          devices_file: Optional[Path] = ConfigOpt):
    """Verify and time kernel files on devices (exit 0 only if every trial is ok)."""
    lab = load_lab(devices_file)
    if build_only:
        raise typer.Exit(build_files(lab, list(kernels), device or ["host"], as_json=as_json, relax=tuple(trust),
                                     cflags=tuple(cflags)))
    o, devs, per_dev = task_shapes(lab, op, dtype, shape, suite, scale, device)
    bad = [r for r in trust if r not in RULES]
    if bad:
        err.print(f"[red]error:[/red] unknown gate rule(s) {', '.join(bad)}; known: {', '.join(RULES)}")
        raise typer.Exit(2)
    ks = []
    for k in kernels:
        if not k.is_file():
            err.print(f"[red]error:[/red] no such kernel file: {k}")
            raise typer.Exit(2)
        ks.append(Kernel.from_file(k, relax=tuple(trust)))
    other: dict[str, Kernel] = {}
    if against:
        if against in BASELINE_NAMES:
            try:
                other = {d: device_baseline(lab.ws, against, lab.devices[d], o) for d in devs}
            except BaselineUnavailable as e:
                err.print(f"[red]error:[/red] {e}")
                raise typer.Exit(2)
        elif Path(against).is_file():
            k = Kernel.from_file(Path(against))
            other = {d: k for d in devs}
        else:
            fail(f"--against {against!r}: not a baseline ({', '.join(BASELINE_NAMES)}) or a file")
    jobs = [Job(k, d, s, o) for k in ks for d in devs for s in per_dev[d]]
    raise typer.Exit(execute(lab, jobs, as_json, overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), tuple(cflags), resume=resume, against=other,
                              target=target, budget_s=budget))
