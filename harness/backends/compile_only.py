"""`tensorop build` and `tensorop bench --build-only`: compile, gate and inspect kernel files
for devices without running anything. For a CUDA device that is the compile-only report
(registers, spills, shared memory, occupancy estimate, tensor-core instructions in the SASS); for
a CPU device the build and object gate of the ordinary builder.

A GPU named on the command line but not configured in devices.yaml ("H100", "A100", "RTX 4090")
still gets the compile-only report for its SM, with a notice: nothing can run there.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.backends import backend_for
from harness.config.devices import Device
from harness.config.yamlfile import ConfigError
from harness.config.lab import Lab
from harness.core.records import Status

# GPU names -> the SM nvcc should target (compile-only stand-ins for unconfigured GPUs)
GPU_SM = {
    "h100": "sm_90a", "h200": "sm_90a", "gh200": "sm_90a", "a100": "sm_80", "a10": "sm_86", "a40": "sm_86",
    "rtx 3090": "sm_86", "3090": "sm_86", "l4": "sm_89", "l40s": "sm_89", "rtx 4060": "sm_89", "4060": "sm_89",
    "rtx 4090": "sm_89", "4090": "sm_89", "b200": "sm_100a", "rtx 5090": "sm_120", "5090": "sm_120", "v100": "sm_70",
    "t4": "sm_75",
}


def resolve(lab: Lab, name: str, notify) -> Device:
    """A configured device, else a compile-only CUDA stand-in for a known GPU name."""
    try:
        return lab.device(name, notify=notify)
    except ConfigError:
        sm = GPU_SM.get(name.strip().lower())
        if sm is None:
            raise
        notify(f"{name} is not configured in devices.yaml: compile-only for {sm} (add an SSH device with "
               f"toolchain cuda-nvcc and features [cuda, {sm}, tensor-cores] to run there)")
        return Device(name=name, arch="x86_64", transport="local", toolchain="cuda-nvcc",
                      features=("cuda", sm, "tensor-cores"), description=f"compile-only stand-in for {name}")


def build_one(lab: Lab, device: Device, kernel: Path, *, threads: int | None = None, dynamic_smem: int = 0,
              relax: tuple[str, ...] = (), cflags: tuple[str, ...] = ()) -> dict:
    """Build one kernel file for one device; a JSON-able record (status, error, report, log)."""
    tc = lab.toolchain(device)
    rec: dict = {"device": device.name, "kernel": str(kernel), "toolchain": device.toolchain}
    if tc is None:
        return {**rec, "status": Status.DEVICE_ERROR.value,
                "error": f"toolchain {device.toolchain!r} is not defined in toolchains/"}
    rec.update(backend_for(device).compile_only(lab.ws, device, tc, kernel, threads=threads, dynamic_smem=dynamic_smem,
                                                relax=relax, cflags=cflags))
    return rec


def run(lab: Lab, kernels: list[Path], device_names: list[str], *, as_json: bool, out, err, threads=None,
        dynamic_smem: int = 0, relax: tuple[str, ...] = (), cflags: tuple[str, ...] = (), strict: bool = False) -> int:
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

