"""The Backend: what depends on the kind of device a kernel runs on, chosen once per device
(`harness.backends.backend_for`). Everything above this floor asks the device's backend and never
branches on the kind itself.

    op(op)                    the op as this backend runs it (the CUDA ABI symbol and driver, the
                              tensor-core error bound); the op itself on a CPU
    build(...)                compile, gate (the object file) and link with the timing driver;
                              a paired build with `partner`
    compile_only(...)         `tensorop build` / `--build-only`: compile, gate and inspect, run nothing
    build_key(device)         what else a build depends on (a CUDA build is per SM)
    classify_failure(...)     what a failed run means beyond the shared rules (a CUDA error's phase)
    peak_check(device, trial) '' when the figure is physically possible, else why not
    baseline(ws, name, ...)   the library a user would pick instead (OpenBLAS, cuBLAS, cuDNN) or naive
    kernel_file               kernel.c | kernel.cu (generated folders, LLM answers)

Adding a device kind is adding one subpackage with a Backend subclass and its line in
harness/backends/__init__.py.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.core.records import BuildResult, Kernel, RunResult, Status, Trial
from harness.core.workspace import Workspace
from harness.ops import Op


class BaselineUnavailable(Exception):
    """A baseline cannot be built here (library missing, none for this op); the text says what to do."""


class Backend(ABC):
    name: str = ""
    kernel_file: str = "kernel.c"
    baseline_names: tuple[str, ...] = ()

    def op(self, op: Op) -> Op:
        return op

    @abstractmethod
    def build(self, ws: Workspace, device: Device, toolchain: Toolchain, kernel: Kernel, op: Op, *,
              partner: Kernel | None = None, extra_cflags: tuple[str, ...] = (), threads: int = 1) -> BuildResult:
        """The linked timing driver for `kernel` (paired with `partner` when given) as a BuildResult."""

    @abstractmethod
    def compile_only(self, ws: Workspace, device: Device, toolchain: Toolchain, path: Path, *,
                     threads: int | None = None, dynamic_smem: int = 0, relax: tuple[str, ...] = (),
                     cflags: tuple[str, ...] = ()) -> dict:
        """One kernel file built for `device` without running it: a JSON-able record (status, error,
        log, executable) with `_lines`, the human report."""

    def build_key(self, device: Device) -> tuple:
        return ()

    def classify_failure(self, run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
        return None

    @abstractmethod
    def peak_check(self, device: Device, trial: Trial) -> str:
        """'' if the trial's figure is physically possible on the device, else why not."""

    @abstractmethod
    def baseline(self, ws: Workspace, name: str, device: Device, op: Op) -> Kernel:
        """Baseline `name` for `device` and `op`; BaselineUnavailable says why not."""

    def describe(self, device: Device) -> str:
        """One phrase for status lines ("sm_90a", "CPU")."""
        return self.name
