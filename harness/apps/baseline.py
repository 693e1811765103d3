"""`tensorop baseline openblas|mkl|naive|vendor ...`: a baseline measured through the same driver,
gate and statistics as any kernel."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from harness.apps.common import err, fail, load_lab
from harness.apps.jobs import execute, overrides, task_shapes
from harness.apps.options import (
    ConfigOpt, DeviceOpt, DtypeOpt, FlushOpt, JsonOpt, MaxSamplesOpt, MaxTimeOpt, MinSamplesOpt, OpOpt, RelCiOpt,
    ScaleOpt, ShapesOpt, SuiteOpt, WarmupOpt,
)
from harness.backends import BASELINE_NAMES, BaselineUnavailable, device_baseline
from harness.campaign.scheduler import Job


def baseline(name: str = typer.Argument(..., help="openblas | mkl | naive (CUDA devices: vendor | cublas | cudnn)"), op: str = OpOpt, dtype: str = DtypeOpt,
             shape: Optional[List[str]] = ShapesOpt, suite: Optional[str] = SuiteOpt, scale: float = ScaleOpt,
             device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
             max_time: Optional[float] = MaxTimeOpt, min_samples: Optional[int] = MinSamplesOpt,
             max_samples: Optional[int] = MaxSamplesOpt, warmup: Optional[int] = WarmupOpt,
             rel_ci: Optional[float] = RelCiOpt, flush: bool = FlushOpt,
             devices_file: Optional[Path] = ConfigOpt):
    """Measure a baseline (OpenBLAS, MKL or naive C) through the same driver, gate and statistics."""
    lab = load_lab(devices_file)
    if name not in BASELINE_NAMES:
        fail(f"unknown baseline {name!r}; known: {', '.join(BASELINE_NAMES)}")
    o, devs, per_dev = task_shapes(lab, op, dtype, shape, suite, scale, device)
    jobs = []
    for d in devs:
        try:
            k = device_baseline(lab.ws, name, lab.devices[d], o)
        except BaselineUnavailable as e:
            err.print(f"[red]error:[/red] {d}: {e}")
            raise typer.Exit(2)
        jobs += [Job(k, d, s, o) for s in per_dev[d]]
    raise typer.Exit(execute(lab, jobs, as_json, overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), title=f"baseline {name}"))
