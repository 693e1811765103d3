"""Shared fixtures. Tests use the real compilers and real QEMU installed by `make setup`;
each test gets its own workspace (devices.yaml, toolchains/, results DB) under tmp_path, with
the shared build cache and sysroots of the checkout reused."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.config.lab import Lab
from harness.core.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]

# The cycle model's tests run x86-qemu (`memory: host`) with this host class's latencies as the
# validation measured them (docs/CYCLE_MODEL.md: 4.0 GHz, L2 19, L3 141 cycles), not with a probe of
# the CI machine taken while the suite's own workers load it (one such read 1.9 GHz and L3 191).
# Subprocesses inherit it. A user's runs probe their host (harness/measure/model/host_latency.py).
os.environ.setdefault("TENSOROP_HOST_LATENCY", "4.0:19:141")
FAULTY = REPO / "kernels" / "faulty"
EXAMPLES = REPO / "kernels" / "examples"


def _have_qemu() -> bool:
    return all(shutil.which(b) for b in ("qemu-riscv64", "qemu-aarch64", "clang-19")) or \
        all(shutil.which(b) for b in ("qemu-riscv64", "qemu-aarch64"))


requires_qemu = pytest.mark.skipif(not _have_qemu(), reason="QEMU user mode not installed (run make setup)")


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    """A fresh workspace: a copy of the repo's devices.yaml and toolchains/, its own results DB,
    sharing the repo's .cache (sysroots, OpenBLAS, QEMU plugin, build cache) but not its
    hardware profiles, which go under tmp_path."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copy(REPO / "devices.yaml", root / "devices.yaml")
    shutil.copytree(REPO / "toolchains", root / "toolchains")
    monkeypatch.setenv("TENSOROP_CACHE", str(REPO / ".cache"))
    monkeypatch.setenv("TENSOROP_HOME", str(root))
    monkeypatch.setenv("TENSOROP_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setenv("TENSOROP_PROFILES", str(tmp_path / "profiles"))   # never the repo's .cache/profiles
    monkeypatch.delenv("TENSOROP_DB", raising=False)
    return Workspace(root)


@pytest.fixture
def lab(workspace) -> Lab:
    return Lab.load(workspace)


def write_devices(ws: Workspace, text: str) -> Path:
    p = ws.root / "devices.yaml"
    p.write_text(text)
    return p
