"""The CPU backend (harness/backends/base.py): C kernels for CPU devices."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from harness.backends.base import Backend, BaselineUnavailable
from harness.backends.cpu import baselines, peak
from harness.backends.cpu.build import BuildRequest, build
from harness.config.boards import BOARD_OPENBLAS, board_dir
from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.core.records import BuildResult, Kernel, Status, Trial
from harness.core.workspace import Workspace
from harness.ops import Op
from harness.ops import default_op


def build_request(kernel: Kernel, toolchain: Toolchain, op: Op, extra_cflags: tuple[str, ...] = (),
                  threads: int = 1) -> BuildRequest:
    return BuildRequest(source=kernel.source, toolchain=toolchain, name=kernel.name,
                        extra_cflags=(*extra_cflags, *kernel.cflags), libs=kernel.libs, allow_blas=kernel.allow_blas,
                        relax=kernel.relax, threads=threads, op=op)


# scipy-openblas32 exports OpenBLAS's interface with a scipy_ prefix; a distro's OpenBLAS without it
_SCIPY_NAME = re.compile(rb"\bscipy_((?:cblas|openblas)_\w+)")


def board_openblas(k: Kernel, device: Device, baseline_dir: Path) -> Kernel:
    """An OpenBLAS baseline linked against the board's own library (`openblas: board`: the bytes of
    its libopenblas0 package, copied from its image when it was built) instead of the harness's
    wheel; the board loads the same library at run time. The wheel's prefixed names, in the
    baseline's source and the baselines' headers, are compiled to the library's own."""
    lib = board_dir(device.board) / BOARD_OPENBLAS
    if not lib.is_file():
        raise BaselineUnavailable(f"{device.name}: the board's OpenBLAS {lib} is not there; "
                                  f"run `tensorop boards up {device.board}`")
    texts = [k.source, *(h.read_bytes() for h in sorted(baseline_dir.glob("*.h")))]
    names = sorted({m.decode() for t in texts for m in _SCIPY_NAME.findall(t)})
    return replace(k, libs=(lib,), cflags=(*k.cflags, *(f"-Dscipy_{n}={n}" for n in names)))


class CpuBackend(Backend):
    name = "cpu"
    kernel_file = "kernel.c"
    baseline_names = baselines.NAMES

    def build(self, ws: Workspace, device: Device, toolchain: Toolchain, kernel: Kernel, op: Op, *,
              partner: Kernel | None = None, extra_cflags: tuple[str, ...] = (), threads: int = 1) -> BuildResult:
        return build(build_request(kernel, toolchain, op, extra_cflags, threads), ws.builds,
                     build_request(partner, toolchain, op, extra_cflags, threads) if partner else None)

    def compile_only(self, ws: Workspace, device: Device, toolchain: Toolchain, path: Path, *,
                     threads: int | None = None, dynamic_smem: int = 0, relax: tuple[str, ...] = (),
                     cflags: tuple[str, ...] = ()) -> dict:
        b = self.build(ws, device, toolchain, Kernel.from_file(path, relax=relax), default_op(),
                       extra_cflags=tuple(cflags))
        return {"status": b.status.value, "error": b.error, "log": b.log,
                "executable": str(b.artifact.executable) if b.artifact else None,
                "_lines": ["object gate passed; linked with the timing driver"] if b.status is Status.OK else []}

    def peak_check(self, device: Device, trial: Trial) -> str:
        return peak.peak_check(device, trial)

    def baseline(self, ws: Workspace, name: str, device: Device, op: Op) -> Kernel:
        k = baselines.baseline_kernel(ws, name, device.arch, op, device.threads_allowed, device.emulated)
        if device.openblas == "board" and op.baselines[name][1] == "openblas":
            k = board_openblas(k, device, op.baseline_path(name)[0].parent)
        return k

    def describe(self, device: Device) -> str:
        return device.arch

