"""A CPU device's baselines, measured through the same driver, gate and statistics as any kernel:
the libraries a user would pick, each fetched by setup from its PyPI wheel, and a naive C triple loop
(the op's files in baselines/):

  openblas  OpenBLAS 0.3.34 (the scipy-openblas32 wheel of the device's architecture,
            .cache/openblas/<arch>/): SGEMM, or SGEMV for a row or column (M = 1 or N = 1)
  mkl       oneMKL (the `mkl` + `mkl-include` wheels, x86_64 only, .cache/mkl/x86_64/): SGEMM/SGEMV,
            sgemm_batch_strided, gemm_bf16bf16f32, gemm_f16f16f32, gemm_s8u8s32
  onednn    oneDNN 2.6 (Debian's libdnnl-dev, x86_64; its PyPI wheels are SYCL builds): conv2d f32
  naive     the textbook loops

A library baseline names its library (Op.baselines); the library's shared objects are linked in and
shipped beside the driver (Kernel.libs), its headers are on the include path, and the task's thread
count is compiled in (TENSOROP_LIB_THREADS: MKL's threading layer) and set again by the driver before
it forks the timing worker (tensorop_lib_init: mkl_set_num_threads). Each says in the result which routine ran and which ISA path it took
(baselines/tensorop_lib.h: the record's `lib`, kept as the trial's meta["library"]; core/channel.py
lib_note)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import BaselineUnavailable
from harness.core.records import Kernel
from harness.core.workspace import Workspace
from harness.ops import Op, default_op
from harness.ops.base import BASELINE_DIR

NAMES = ("openblas", "mkl", "onednn", "naive")

OPENBLAS_LIB = "libscipy_openblas.so"
MKL_VERSION = "2026.2.1"          # the wheels scripts/setup.sh fetches (pinned there too)
# the GNU OpenMP runtime MKL's gnu_thread layer needs with threads > 1 (Debian's gcc ships it)
LIBGOMP = Path("/usr/lib/x86_64-linux-gnu/libgomp.so.1")
LIBDNNL = Path("/usr/lib/x86_64-linux-gnu/libdnnl.so.2")     # Debian's libdnnl2 (oneDNN 2.6; libdnnl-dev)


@dataclass(frozen=True)
class Library:
    """A library a baseline links: where setup puts it and what a build needs of it."""
    name: str
    arches: tuple[str, ...]            # the architectures its wheel exists for
    wheel: str                         # what setup fetches (for messages)
    emulated: bool = True              # usable on an emulated device (QEMU)

    def root(self, ws: Workspace, arch: str) -> Path:
        return ws.cache / self.name / arch

    def libs(self, ws: Workspace, arch: str, threads: int) -> tuple[Path, ...]:
        lib = self.root(ws, arch) / "lib"
        if self.name == "openblas":
            return (self.root(ws, arch) / OPENBLAS_LIB,)
        if self.name == "onednn":        # Debian's libdnnl and the OpenMP runtime it is built with
            return (LIBDNNL, LIBGOMP)
        layer = (lib / "libmkl_gnu_thread.so.3", LIBGOMP) if threads > 1 else (lib / "libmkl_sequential.so.3",)
        return (lib / "libmkl_intel_lp64.so.3", *layer, lib / "libmkl_core.so.3")

    def include(self, ws: Workspace, arch: str) -> Path | None:
        return None if self.name in ("openblas", "onednn") else self.root(ws, arch) / "include"

    def missing(self, ws: Workspace, arch: str, threads: int, emulated: bool = False) -> str:
        """'' when the library is here for `arch`, else what to do (BaselineUnavailable's text)."""
        if emulated and not self.emulated:
            return (f"{self.name} runs on real devices only: its set-up (loading its CPU library, "
                    f"before the driver forks) cannot run inside an emulated device's counted call")
        if arch not in self.arches:
            return (f"{self.name} has no wheel for {arch} (it exists for {', '.join(self.arches)}); "
                    f"use openblas or naive there")
        absent = [p for p in self.libs(ws, arch, threads) if not p.is_file()]
        inc = self.include(ws, arch)
        if inc is not None and not inc.is_dir():
            absent.append(inc)
        if absent:
            return f"{self.name} for {arch} not found ({absent[0]}); run `make setup` (it fetches {self.wheel})"
        return ""


LIBRARIES = {
    "openblas": Library("openblas", ("x86_64", "aarch64", "riscv64"), "scipy-openblas32 0.3.34"),
    "mkl": Library("mkl", ("x86_64",), f"mkl=={MKL_VERSION}, mkl-include=={MKL_VERSION}", emulated=False),
    # oneDNN generates its code when a primitive is first created: inside an emulated device's
    # counted call that is memory made executable, which the plugin refuses; real devices only
    "onednn": Library("onednn", ("x86_64",), "Debian's libdnnl-dev (oneDNN 2.6)", emulated=False),
}


def openblas_lib(ws: Workspace, arch: str) -> Path:
    return ws.cache / "openblas" / arch / OPENBLAS_LIB


def available(ws: Workspace, arch: str, op: Op | None = None, threads: int = 1, emulated: bool = False) -> list[str]:
    """The op's baselines that can be built here for `arch` (their library is set up)."""
    op = op or default_op()
    return [n for n, (_, lib) in op.baselines.items()
            if lib is None or not LIBRARIES[lib].missing(ws, arch, threads, emulated)]


def baseline_kernel(ws: Workspace, name: str, arch: str, op: Op | None = None, threads: int = 1,
                    emulated: bool = False) -> Kernel:
    """The op's baseline `name` (Op.baselines: a C file in baselines/ and the library it links),
    built for a task of `threads` threads on a real (or an emulated) device."""
    op = op or default_op()
    if name not in op.baselines:
        have = available(ws, arch, op, threads, emulated)
        raise BaselineUnavailable(f"no baseline {name!r} for {op.name} {op.dtype}; known for it: "
                                  f"{', '.join(op.baselines) or 'none'} ({', '.join(have) or 'none'} set up for {arch})")
    src, library = op.baseline_path(name)
    source = "".join(f"#define {m} 1\n" for m in op.baseline_defines).encode() + src.read_bytes()
    if library is not None:   # the shared headers it includes are part of what it is (and of its build key)
        source = f"/* baselines/*.h: {_headers_hash()} */\n".encode() + source
    if library is None:
        return Kernel(label=name, source=source, name=src.name)
    lib = LIBRARIES[library]
    why = lib.missing(ws, arch, threads, emulated)
    if why:
        raise BaselineUnavailable(f"baseline {name!r} for {op.name} {op.dtype}: {why}")
    inc = lib.include(ws, arch)
    cflags = (f"-I{BASELINE_DIR}", *((f"-I{inc}",) if inc else ()), f"-DTENSOROP_LIB_THREADS={threads}")
    return Kernel(label=name, source=source, name=src.name, allow_blas=True, libs=lib.libs(ws, arch, threads),
                  cflags=cflags)


def _headers_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(BASELINE_DIR.glob("*.h")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]
