"""The timing driver: inputs bit-identical to NumPy's on every architecture, NaN poison, the
request on stdin and the record on the private channel only, verified timed calls, instruction
counts and modelled cycles that repeat exactly."""
import json
import subprocess

import numpy as np
import pytest

from conftest import REPO, requires_qemu
from harness.measure import check
from harness.core.measure_options import MeasureOptions
from harness.ops import gemm
from harness.core.records import RunResult
from harness.transport import get_transport
from harness.core.records import Kernel
from harness.measure.runner import build_kernel, run_trial
from harness.core import channel

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
        run = t.run(art, [], timeout_s=60, stdin=gemm.request("check", [case]), fetch=["c0.bin"])
    assert run.returncode == 0, run.stderr
    rec = json.loads(run.channel)          # (copy_a fails the reuse check: it is not a GEMM)
    assert rec["mode"] == "check" and run.stdout == ""   # the record is on fd 3 only
    out = np.frombuffer(run.files["c0.bin"], dtype=np.float32).reshape(7, 15)
    A = gemm.matrix(case.seed, 0, 7, 13)
    assert np.array_equal(out[:, :13].view(np.uint32), A.view(np.uint32))
    assert np.all(out[:, 13:].view(np.uint32) == gemm.POISON_BITS)    # untouched padding stays poisoned
    assert A.min() >= -1 and A.max() < 1 and abs(float(A.mean())) < 0.5


def test_the_driver_takes_nothing_from_its_command_line(lab):
    """No request on stdin: a usage error; no fd 3: it refuses to run (exit 5)."""
    dev = lab.devices["host"]
    art = artifact(lab, dev, Kernel.from_file(NAIVE))
    case = gemm.GemmCase.tight(8, 8, 8, 1)
    p = subprocess.run([str(art.executable), "check", case.arg()], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, pass_fds=())
    assert p.returncode == 5 and "no result channel" in p.stderr
    with get_transport(dev, lab.ws) as t:
        run = t.run(art, ["check", case.arg()], timeout_s=30)            # argv is ignored: no request
    assert run.returncode == 2 and run.channel == b""


def test_timed_calls_are_verified_and_sampling_rotates_input_sets(lab):
    dev = lab.devices["host"]
    art = artifact(lab, dev, Kernel.from_file(NAIVE))
    case = gemm.GemmCase.tight(16, 16, 16, 1)
    req = gemm.request("time", [case], tol=gemm.timing_tolerance(16), pick=3, min_sample_s=0.0005,
                       min_samples=8, max_samples=400, max_time_s=5, rel_ci=0.05, max_sets=8)
    with get_transport(dev, lab.ws) as t:
        run = t.run(art, [], timeout_s=30, stdin=req, fetch=["pick.bin"])
    recs = channel.read_channel(run, want_plugin=False)
    out = recs.driver
    assert not recs.error and out["verified"] is True
    assert 2 <= out["inner_loops"] <= 8                          # a tiny GEMM: several calls, each on its own set
    assert out["calls"] == len(out["samples"]) * out["inner_loops"]
    assert 8 <= len(out["samples"]) < 400 and out["stop"] == "ci"
    assert 0 < out["cpu_s"] <= out["wall_s"] * 1.3              # one core (driver and worker together)
    v = check.timed_verdict(out, case, run.files.get("pick.bin"))
    assert v.ok, v.detail
    assert out["pick"]["seed"] != 1          # a timed sample's inputs are drawn fresh, not from the request


def test_the_channel_is_read_strictly():
    one = b'{"tensorop":"driver","mode":"check","cases":1}\n'
    ok = RunResult(0, "", "", 0.1, channel=one)
    assert channel.read_channel(ok, want_plugin=False).driver["cases"] == 1
    for bad in (one * 2, one + b"garbage\n", b"", b'{"tensorop":"kernel"}\n' + one, b"\xff\xfe"):
        assert channel.read_channel(RunResult(0, "", "", 0.1, channel=bad), want_plugin=False).error, bad
    assert channel.read_channel(ok, want_plugin=True).error == "the QEMU plugin wrote no record"


@requires_qemu
@pytest.mark.parametrize("name", ["rv64-qemu", "arm64-qemu"])
def test_emulated_figures_repeat_exactly(lab, name):
    """One profiled call per trial: instructions and modelled cycles are deterministic for the same
    binary and shape whatever the (fresh) data, and scale with the work."""
    dev = lab.devices[name]
    k = Kernel.from_file(NAIVE)
    opts = MeasureOptions.for_device(dev)
    trials = []
    with get_transport(dev, lab.ws) as t:
        for shape in ((40, 40, 40), (40, 40, 40), (40, 40, 80)):
            tr = run_trial(lab.ws, dev, lab.toolchain(dev), t, k, shape, opts)
            assert tr.status.value == "ok", tr.error
            trials.append(tr)
    assert trials[0].insns == trials[1].insns > 0
    assert trials[0].cycles == trials[1].cycles > 0
    assert 1.7 < trials[2].insns / trials[0].insns < 2.3      # twice the reduction: about twice the work
    assert 1.6 < trials[2].cycles / trials[0].cycles < 2.4
    assert trials[0].model and trials[0].samples == ()         # no timing repetitions under QEMU
