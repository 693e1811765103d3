"""`tensorop examples`: the example kernels shipped in kernels/examples/ (which devices they
suit: example_files_for) measured beside the baselines on the default devices."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from harness.apps.common import err, load_lab, resolve_devices, shape_of
from harness.apps.jobs import execute
from harness.apps.options import ConfigOpt, DeviceOpt, ShapeOpt
from harness.backends import BaselineUnavailable
from harness.backends.cpu.baselines import baseline_kernel
from harness.campaign.scheduler import Job

from harness.config.devices import Device, native_arch
from harness.backends.cpu.probe import host_cpu_flags
from harness.core.records import Kernel
from harness.core.workspace import PACKAGE_DIR

EXAMPLES_DIR = PACKAGE_DIR.parent / "kernels" / "examples"


def example_files_for(device: Device) -> list[Path]:
    files = []
    feats = {f.lower() for f in device.features}
    if device.arch == "x86_64":
        native = device.transport == "local" and not device.runner and native_arch() == "x86_64"
        if "avx512f" in feats or (native and "avx512f" in host_cpu_flags()):
            files.append("gemm_avx512.c")
    elif device.arch == "riscv64":
        files.append("gemm_rvv.c")
    elif device.arch == "aarch64":
        files.append("gemm_neon.c")
        if any(f.startswith("sve") for f in feats):
            files.append("gemm_sve.c")
    return [EXAMPLES_DIR / f for f in files if (EXAMPLES_DIR / f).is_file()]


def examples_for(device: Device) -> list[Kernel]:
    return [Kernel.from_file(p) for p in example_files_for(device)]


def examples(shape: str = ShapeOpt, device: Optional[List[str]] = DeviceOpt,
         devices_file: Optional[Path] = ConfigOpt):
    """Benchmark the shipped example kernels and the baselines on the default devices."""
    lab = load_lab(devices_file)
    s = shape_of("gemm", "f32", shape)
    devs = resolve_devices(lab, device or ["host", "rv64-qemu", "arm64-qemu"])
    jobs, against = [], {}
    for d in devs:
        dev = lab.devices[d]
        try:
            against[d] = baseline_kernel(lab.ws, "openblas", dev.arch)
        except BaselineUnavailable as e:
            err.print(f"[yellow]no OpenBLAS on {d}:[/yellow] {e}")
        jobs.append(Job(baseline_kernel(lab.ws, "naive", dev.arch), d, s))
        jobs += [Job(k, d, s) for k in examples_for(dev)]
    raise typer.Exit(execute(lab, jobs, False, {}, title="example kernels vs OpenBLAS", against=against,
                              budget_s=20.0))
