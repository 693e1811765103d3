"""The timing driver: inputs bit-identical to NumPy's on every architecture, NaN poison,
instruction counts that repeat exactly, calibrated sampling."""
import json

import numpy as np
import pytest

from conftest import REPO, requires_qemu
from harness.ops import gemm
from harness.transport import get_transport
from harness.transport.base import parse_insns
from harness.trial import Kernel, build_kernel

# C = A (needs N == K): exposes the driver's input generator through the output file.
COPY_A = b"""
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[i * ldc + j] = A[i * lda + j];
}
"""
NAIVE = REPO / "baselines" / "naive_gemm.c"
DEVICES = ["host", pytest.param("rv64-qemu", marks=requires_qemu), pytest.param("arm64-qemu", marks=requires_qemu)]


def artifact(lab, device, kernel):
    b = build_kernel(lab.ws, lab.toolchain(device), kernel)
    assert b.status.value == "ok", b.log
    return b.artifact


@pytest.mark.parametrize("name", DEVICES)
def test_inputs_bit_identical_to_numpy(lab, name):
    dev = lab.devices[name]
    art = artifact(lab, dev, Kernel("copy_a", COPY_A))
    rng = np.random.default_rng()
    case = gemm.GemmCase(7, 13, 13, 16, 13, 15, int(rng.integers(0, 2**62)))
    with get_transport(dev, lab.ws) as t:
        run = t.run(art, ["check", case.arg()], timeout_s=60, fetch=["c0.bin"])
    assert run.returncode == 0, run.stderr
    out = np.frombuffer(run.files["c0.bin"], dtype=np.float32).reshape(7, 15)
    A = gemm.matrix(case.seed, 0, 7, 13)
    assert np.array_equal(out[:, :13].view(np.uint32), A.view(np.uint32))
    assert np.all(out[:, 13:].view(np.uint32) == gemm.POISON_BITS)    # untouched padding stays poisoned
    assert A.min() >= -1 and A.max() < 1 and abs(float(A.mean())) < 0.5


@requires_qemu
@pytest.mark.parametrize("name", ["rv64-qemu", "arm64-qemu"])
def test_instruction_counts_repeat_exactly(lab, name):
    dev = lab.devices[name]
    art = artifact(lab, dev, Kernel.from_file(NAIVE))
    counts = []
    for shape in ((40, 40, 40), (40, 40, 40), (40, 40, 80)):
        case = gemm.GemmCase.tight(*shape, seed=int(np.random.default_rng().integers(0, 2**62)))
        with get_transport(dev, lab.ws) as t:
            run = t.run(art, ["time", case.arg(), "warmup=0", "min_samples=1", "max_samples=2", "max_time_s=0"],
                        timeout_s=60, fetch=["c0.bin"], count_insns=True)
        assert run.returncode == 0, run.stderr
        counts.append(parse_insns(run.stderr))
    assert counts[0] == counts[1] > 0            # same binary and shape, fresh data: same count
    assert 1.7 < counts[2] / counts[0] < 2.3     # twice the reduction: about twice the instructions


def test_sampling_calibrates_inner_loop_and_stops_on_ci(lab):
    dev = lab.devices["host"]
    art = artifact(lab, dev, Kernel.from_file(NAIVE))
    case = gemm.GemmCase.tight(16, 16, 16, 1)
    with get_transport(dev, lab.ws) as t:
        run = t.run(art, ["time", case.arg(), "min_sample_s=0.002", "min_samples=8", "max_samples=400",
                          "max_time_s=5", "rel_ci=0.05"], timeout_s=30, fetch=["c0.bin"])
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["inner_loops"] > 10                 # a tiny GEMM needs many calls per sample
    per_sample = np.array(out["samples"]) * out["inner_loops"]
    assert np.median(per_sample) >= 0.002 * 0.9
    assert 8 <= len(out["samples"]) < 400 and out["stop"] == "ci"
    assert gemm.verify(case, run.files["c0.bin"]).ok
