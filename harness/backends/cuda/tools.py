"""Finding the CUDA tools: nvcc (the toolchain's compiler) and cuobjdump (SASS, resource usage,
the device ELF). Looked for on the toolchain's PATH, then beside the compiler, in the project's
.venv (NVIDIA's PyPI wheels, installed by scripts/setup.sh into site-packages/nvidia/cu13/bin),
in $CUDA_HOME/bin and /usr/local/cuda/bin."""
from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

from harness.config.toolchains import Toolchain

INSTALL_HINT = ("`make setup` installs NVIDIA's PyPI wheels into .venv (nvidia-cuda-nvcc, nvidia-cuda-runtime, "
                "nvidia-cuda-crt, nvidia-nvvm, nvidia-cuda-cccl, nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm); or install the CUDA toolkit "
                "and put its bin/ on PATH")


def _search_dirs(extra: tuple[str, ...] = ()) -> list[str]:
    dirs = list(extra)
    for prefix in {sys.prefix, str(Path(__file__).resolve().parents[3] / ".venv")}:
        dirs += sorted(glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages", "nvidia", "cu1*", "bin")),
                       reverse=True)
    if os.environ.get("CUDA_HOME"):
        dirs.append(os.path.join(os.environ["CUDA_HOME"], "bin"))
    dirs.append("/usr/local/cuda/bin")
    return dirs


def find_tool(name: str, toolchain: Toolchain | None = None) -> str | None:
    path = toolchain.environ().get("PATH") if toolchain else os.environ.get("PATH")
    found = shutil.which(name, path=path)
    if found:
        return found
    near = []
    if toolchain is not None and toolchain.compiler():
        near.append(str(Path(toolchain.compiler()).resolve().parent))
    for d in _search_dirs(tuple(near)):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def nvcc(toolchain: Toolchain) -> str | None:
    """The toolchain's compiler, else an nvcc from the wheels or a CUDA install."""
    return toolchain.compiler() or find_tool("nvcc", toolchain)


def cuobjdump(toolchain: Toolchain | None = None) -> str | None:
    return find_tool("cuobjdump", toolchain)


# ---- vendor libraries of the baselines (cuBLAS, cuDNN) ---------------------------------------
# library -> (the header that names it, the shared library to link, its folder in a full wheel)
LIBRARIES = {"cublas": ("cublas_v2.h", "libcublas.so", "cu1*"), "cudnn": ("cudnn.h", "libcudnn.so", "cudnn")}
HEADERS_HINT = ("`make setup` fetches the cuBLAS/cuDNN headers (and cuDNN's loader library) out of NVIDIA's "
                "wheels into .cache/cuda-headers/; a GPU machine needs the libraries themselves (the CUDA "
                "toolkit's, or `pip install nvidia-cublas nvidia-cudnn-cu13`)")


def _library_roots(cache: Path | None) -> list[Path]:
    """Where a library's include/ and lib/ may be, most complete first: a CUDA install, the full
    NVIDIA wheels in the environment, then the header-only fetch of `make setup`."""
    roots = []
    for d in _search_dirs():                           # <toolkit>/bin, site-packages/nvidia/cu1x/bin
        roots.append(Path(d).parent)
    for prefix in {sys.prefix, str(Path(__file__).resolve().parents[3] / ".venv")}:
        roots += [Path(p) for p in sorted(glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages", "nvidia",
                                                                 "*")))]
    roots += [Path("/usr"), Path("/usr/local/cuda")]
    if cache is not None:
        roots += [cache / "cuda-headers" / name for name in LIBRARIES]
    return list(dict.fromkeys(roots))


def library_include(name: str, cache: Path | None = None) -> Path | None:
    """The include directory holding library `name`'s main header (cublas_v2.h, cudnn.h)."""
    header = LIBRARIES[name][0]
    for root in _library_roots(cache):
        for inc in (root / "include", root / "include" / "x86_64-linux-gnu", root / "include" / "aarch64-linux-gnu"):
            if (inc / header).is_file():
                return inc
    return None


def library_lib(name: str, cache: Path | None = None) -> Path | None:
    """A shared library of `name` to link against (libcublas.so*, libcudnn.so*); for cuDNN the
    fetched 137 KB loader is enough to link, its engines come with a full install at run time."""
    lib = LIBRARIES[name][1]
    for root in _library_roots(cache):
        for d in (root / "lib64", root / "lib", root / "lib" / "x86_64-linux-gnu", root / "lib" / "aarch64-linux-gnu"):
            found = sorted(glob.glob(str(d / (lib + "*"))))
            if found:
                return Path(found[0])
    return None
