"""`tensorop build K.c|K.cu ... -d DEVICE` (and `bench --build-only`): compile, gate and inspect
kernel files for devices without running anything (harness/backends/compile_only.py; a CUDA
device's report: registers, spills, shared memory, occupancy estimate, tensor-core instructions)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from harness.apps.common import err, load_lab, out
from harness.apps.options import ConfigOpt, DeviceOpt, JsonOpt
from harness.backends.compile_only import build_one, resolve
from harness.config.lab import Lab
from harness.config.yamlfile import ConfigError
from harness.core.records import Status


def build(kernels: List[Path] = typer.Argument(..., help="Kernel files (.c for CPU devices, .cu for CUDA devices)."),
          device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
          cflags: List[str] = typer.Option([], "--cflag", help="Extra compiler flag (repeatable)."),
          threads: Optional[int] = typer.Option(None, "--threads", help="CUDA: threads per block for the occupancy "
                                                "estimate (default: the kernel's `__launch_bounds__`, else 256)."),
          dyn_smem: int = typer.Option(0, "--dyn-smem", help="CUDA: dynamic shared memory per block, bytes, for "
                                       "the occupancy estimate."),
          trust: List[str] = typer.Option([], "--trust", help="Relax a named object-gate rule (as bench)."),
          strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too (e.g. no tensor-core "
                                      "instructions in SASS, register spills)."),
          devices_file: Optional[Path] = ConfigOpt):
    """Compile, gate and inspect kernels for devices without running them. For a CUDA device
    (features [cuda, sm_XX]; or a GPU name such as H100, compile-only): registers, spills, shared
    memory, an occupancy estimate and the tensor-core instructions in the SASS; no GPU needed."""
    lab = load_lab(devices_file)
    raise typer.Exit(build_files(lab, list(kernels), device or ["host"], as_json=as_json, threads=threads,
                                 dynamic_smem=dyn_smem, relax=tuple(trust), cflags=tuple(cflags), strict=strict))


def build_files(lab: Lab, kernels: list[Path], device_names: list[str], *, as_json: bool, threads=None,
        dynamic_smem: int = 0, relax: tuple[str, ...] = (), cflags: tuple[str, ...] = (), strict: bool = False) -> int:
    """Build each kernel file for each device and print the compile-only report (JSON lines with
    --json); exit status 0 when every build is ok (and, with strict, has no warnings)."""
    notes: list[str] = []
    devices = []
    for n in device_names:
        try:
            devices.append(resolve(lab, n, notes.append))
        except ConfigError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            return 2
    for n in notes:
        err.print(f"note: {n}", highlight=False, markup=False)
    rc = 0
    for k in kernels:
        if not k.is_file():
            err.print(f"[red]error:[/red] no such kernel file: {k}")
            return 2
        for d in devices:
            rec = build_one(lab, d, k, threads=threads, dynamic_smem=dynamic_smem, relax=relax, cflags=cflags)
            lines = rec.pop("_lines")
            warnings = (rec.get("report") or {}).get("warnings", [])
            if rec["status"] != Status.OK.value or (strict and warnings):
                rc = 1
            if as_json:
                rec.pop("log", None)
                print(json.dumps(rec), flush=True)
                continue
            head = f"{d.name}" + (f" ({rec['sm']}, {rec['dtype']})" if rec.get("sm") else "") + f" {k}: {rec['status']}"
            style = "green" if rec["status"] == Status.OK.value and not warnings else \
                "yellow" if rec["status"] == Status.OK.value else "red"
            out.print(f"[{style}]{head}[/{style}]", highlight=False)
            if rec.get("error"):
                out.print(f"  {rec['error']}", highlight=False, markup=False)
            for line in lines:
                out.print(f"  {line}", highlight=False, markup=False)
            if rec.get("executable"):
                out.print(f"  artifact: {rec['executable']}", highlight=False)
    return rc

