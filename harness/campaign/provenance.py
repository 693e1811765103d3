"""Where a trial's figure came from, in a form a later run can compare (`tensorop compare`):
the git commit (and dirty flag) of the kernel's source tree and of tensorop itself, tensorop's
version, a hash of the device's configuration, and the cycle model's version. Stored in each
trial's meta["provenance"]; the toolchain version and the model name are Trial fields already.

git is asked once per folder per process (`git rev-parse HEAD`, `git status --porcelain`); a
file outside any repository (or no git at all) has commit "" and dirty None."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
from pathlib import Path

import harness
from harness.core.records import Kernel
from harness.measure.model import mca

TENSOROP_TREE = Path(harness.__file__).resolve().parent.parent


@functools.lru_cache(maxsize=256)
def git_state(folder: Path) -> tuple[str, bool | None]:
    """(commit, dirty) of the git work tree holding `folder`; ("", None) outside one."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return "", None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
        return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return "", None


def device_hash(device) -> str:
    """A hash of the device's configuration as devices.yaml gave it (every field but where it was
    read from): two runs with the same hash ran on the same declared device."""
    d = dataclasses.asdict(device)
    d.pop("source", None)
    d.pop("line", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(device, kernel: Kernel | None) -> dict:
    """The provenance record of one trial of `kernel` on `device`."""
    commit, dirty = git_state(TENSOROP_TREE)
    out = {"tensorop_version": harness.__version__, "tensorop_commit": commit, "tensorop_dirty": dirty,
           "device_hash": device_hash(device)}
    if device.emulated:
        out["model_version"] = mca.CACHE_FORMAT
    path = kernel.path if kernel is not None else None
    if kernel is not None and kernel.commit:          # read from a commit, not the work tree
        out.update(kernel_path=str(path or kernel.name), kernel_commit=kernel.commit, kernel_dirty=False)
    elif path is not None:
        k_commit, _ = git_state(path.parent)
        out.update(kernel_path=str(path), kernel_commit=k_commit,
                   kernel_dirty=file_dirty(path) if k_commit else None)
    return out


@functools.lru_cache(maxsize=1024)
def file_dirty(path: Path) -> bool | None:
    """The file differs from its repository's HEAD (modified, or not tracked)."""
    try:
        p = subprocess.run(["git", "-C", str(path.parent), "status", "--porcelain", "--", path.name],
                           capture_output=True, text=True, timeout=30)
        return bool(p.stdout.strip()) if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None
