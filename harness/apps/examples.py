"""The example kernels shipped in kernels/examples/ and which devices they suit."""
from __future__ import annotations

from pathlib import Path

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
