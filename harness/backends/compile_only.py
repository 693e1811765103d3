"""`tensorop build` and `tensorop bench --build-only`: compile, gate and inspect kernel files
for devices without running anything. For a CUDA device that is the compile-only report
(registers, spills, shared memory, occupancy estimate, tensor-core instructions in the SASS); for
a CPU device the build and object gate of the ordinary builder.

A GPU named on the command line but not configured in devices.yaml ("H100", "A100", "RTX 4090")
still gets the compile-only report for its SM, with a notice: nothing can run there.
"""
from __future__ import annotations

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
