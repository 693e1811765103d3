"""Issue 12: the benchmark suite's smoke test (`tensorop bench-suite --quick`, ~1-2 min) and the
expert generator's small-M (GEMV-shaped) path through the correctness gate."""
import json
import subprocess
import sys

import pytest

from harness.generate.templates import SETS, render
from harness.measure import MeasureOptions
from harness.records import Status
from harness.trial import Kernel, run_trial
from harness.transport import get_transport

from conftest import requires_qemu


def _avx512_host() -> bool:
    try:
        return "avx512f" in open("/proc/cpuinfo").read()
    except OSError:
        return False


@pytest.mark.skipif(not _avx512_host(), reason="needs an AVX-512 host")
@pytest.mark.parametrize("shape", [(1, 203, 97), (3, 1000, 77), (16, 67, 300), (17, 33, 64)])
def test_small_m_path_is_correct(lab, shape):
    """M <= SM takes the unpacked path (masked N tails, row groups of 1..4, blocked k sums)."""
    dev = lab.devices["host"]
    src = render("avx512", SETS["avx512"].seeds[0])
    assert "gemm_small_m" in src
    k = Kernel(label="sm", source=src.encode())
    with get_transport(dev, lab.ws) as tr:
        t = run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, shape,
                      MeasureOptions.for_device(dev, max_time_s=0.05, min_samples=3, max_samples=3))
    assert t.status is Status.OK, t.error


@requires_qemu
def test_bench_suite_quick(workspace, tmp_path):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "harness.cli", "bench-suite", "--quick", "--out", str(out)],
                       capture_output=True, text=True, cwd=workspace.root, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    md = (out / "bench-quick.md").read_text()
    assert "| host | 256x256x256 | paired time |" in md and "| rv64-qemu | 128x128x128 | modelled |" in md
    data = json.loads((out / "bench-quick.json").read_text())
    rows = {(r["device"], tuple(r["shape"])): r for r in data["rows"]}
    host = rows[("host", (256, 256, 256))]
    assert host["vs"]["openblas"]["metric"] == "time" and host["vs"]["openblas"]["ratio_ci95"]
    emu = rows[("rv64-qemu", (128, 128, 128))]
    assert emu["vs"]["openblas"]["metric"] == "modelled_cycles" and emu["cycles"]["generated"] > 0
    assert data["micro"].get("peak_gflops", 0) > 0 and data["micro"].get("dram_gbs", 0) > 0
    assert (out / "bench-quick.png").is_file() and (out / "bench-quick-roofline.png").is_file()


@pytest.mark.skipif(not _avx512_host(), reason="needs an AVX-512 host")
def test_threaded_kernel_needs_a_task_that_allows_threads(lab):
    """T = 2 (the task's thread count): pthreads over N ranges. On `host-2t` (threads: 2) it builds,
    passes the gate and is timed; on `host` (1 thread) the object gate rejects its pthread symbols."""
    src = render("avx512", {**SETS["avx512"].seeds[0], "T": 2})
    assert "pthread_create" in src
    k = Kernel(label="t2", source=src.encode())
    for name, want in (("host-2t", Status.OK), ("host", Status.REJECTED)):
        dev = lab.devices[name]
        with get_transport(dev, lab.ws) as tr:
            t = run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, (96, 1000, 300),
                          MeasureOptions.for_device(dev, max_time_s=0.05, min_samples=3, max_samples=3))
        assert t.status is want, (name, t.status, t.error)
