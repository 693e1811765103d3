"""The shipped example kernels are verified on the devices they are written for (the gate's
awkward shapes and padded leading dimensions included), at two VLENs for RVV."""
import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES, requires_qemu
from harness.apps.examples import host_cpu_flags

FAST = ["--max-time", "0.1", "--min-samples", "3", "--max-samples", "5"]
CASES = [
    pytest.param("gemm_avx512.c", "host", marks=pytest.mark.skipif(
        "avx512f" not in host_cpu_flags(), reason="this CPU has no AVX-512F")),
    pytest.param("gemm_rvv.c", "rv64-qemu", marks=requires_qemu),
    pytest.param("gemm_rvv.c", "rv64-qemu-vlen128", marks=requires_qemu),
    pytest.param("gemm_neon.c", "arm64-qemu", marks=requires_qemu),
    pytest.param("gemm_sve.c", "arm64-qemu", marks=requires_qemu),
]


@pytest.mark.parametrize("kernel, device", CASES)
def test_example_kernel_verified(workspace, kernel, device):
    p = subprocess.run([sys.executable, "-m", "harness", "bench", str(EXAMPLES / kernel), "-d", device,
                        "-s", "97x130x75", "-s", "128x128x128", "--json", *FAST],
                       capture_output=True, text=True, cwd=workspace.root, timeout=300)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(rows) == 2, p.stderr
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["max_rel_err"] < 1e-5
    assert p.returncode == 0
