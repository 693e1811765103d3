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

from ..config.toolchains import Toolchain

INSTALL_HINT = ("`make setup` installs NVIDIA's PyPI wheels into .venv (nvidia-cuda-nvcc, nvidia-cuda-runtime, "
                "nvidia-cuda-crt, nvidia-nvvm, nvidia-cuda-cccl, nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm); or install the CUDA toolkit "
                "and put its bin/ on PATH")


def _search_dirs(extra: tuple[str, ...] = ()) -> list[str]:
    dirs = list(extra)
    for prefix in {sys.prefix, str(Path(__file__).resolve().parents[2] / ".venv")}:
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
