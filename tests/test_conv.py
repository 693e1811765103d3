"""Conv2d f32 and the op protocol: a hand-written conv kernel benches verified on every device,
the gate catches padding/stride/batch mistakes, timed-call verification catches hostile kernels,
inputs are bit-identical to NumPy's, the expert generator works end to end, prompts and shapes
parse, the paper-conv suite runs scaled, batched GEMM is gated."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import EXAMPLES, REPO, requires_qemu
from harness.backends.cpu.probe import host_cpu_flags
from harness.generate.prompt import PromptError, parse_prompt
from harness.core.measure_options import MeasureOptions
from harness.ops import UnknownOp, all_ops, get_op
from harness.ops import conv2d
from harness.ops.inputs import POISON_BITS
from harness.ops.suites import get_suite, scaled_shapes
from harness.transport import get_transport
from harness.core.records import Kernel
from harness.measure.runner import build_kernel, run_trial

CONV = get_op("conv2d", "f32")
DEVICES = ["host", pytest.param("rv64-qemu", marks=requires_qemu), pytest.param("arm64-qemu", marks=requires_qemu)]
NAIVE = (REPO / "baselines" / "naive_conv2d.c").read_text()
FAST = dict(max_time_s=0.2, min_samples=3, max_samples=8)


def trial(lab, device, source, shape, op=CONV, label="k", relax=()):
    dev = lab.devices[device]
    k = Kernel(label, source.encode() if isinstance(source, str) else source, relax=relax)
    with get_transport(dev, lab.ws) as tr:
        return run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, shape, MeasureOptions.for_device(dev, **FAST), op=op)


@pytest.mark.parametrize("device", DEVICES)
def test_a_conv_kernel_file_benches_verified(lab, device):
    src = (EXAMPLES / "conv2d_direct.c").read_bytes()
    t = trial(lab, device, src, CONV.parse_shape("2x6x13x11,5x3x3,s2,p1"))
    assert t.status.value == "ok", t.error
    assert t.op == "conv2d" and t.dtype == "f32" and len(t.shape) == 9 and t.max_rel_err < 1e-5
    assert t.meta["check_cases"] == 1 + len(conv2d.AWKWARD) + 1
    assert (t.cycles or 0) > 0 if t.emulated else t.summary.median > 0


@pytest.mark.parametrize("name,edit,needle", [
    ("ignores padding", [("p * stride + r - pad", "p * stride + r"), ("q * stride + s - pad", "q * stride + s")],
     "relative Frobenius error"),
    ("mixes up stride", [("p * stride + r - pad", "p + r - pad"), ("q * stride + s - pad", "q + s - pad")],
     "relative Frobenius error"),
    ("skips a batch", [("for (int n = 0; n < N; n++)", "for (int n = 0; n < (N > 1 ? N - 1 : 1); n++)")],
     "never written"),
])
def test_the_gate_catches_conv_mistakes(lab, name, edit, needle):
    src = NAIVE
    for a, b in edit:
        assert a in src
        src = src.replace(a, b)
    # (the byte scan for system-call instructions may find 0f 05 inside an immediate of these
    # variants: relaxed here, this test is about the correctness gate)
    t = trial(lab, "host", src, CONV.parse_shape("1x4x8x8,4x3x3,s1,p1"), relax=("syscalls",))
    assert t.status.value == "wrong_answer", (name, t.status, t.error)
    assert needle in t.error and "case N=" in t.error


MEMO = NAIVE.replace("void tensorop_conv2d_f32(", "static void conv(") + r"""
#include <stdlib.h>
#include <string.h>
static float *saved; static long saved_n; static int key[9];
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                         const float *x, const float *w, float *y)
{
    int k[9] = {N, C, H, W, K, R, S, stride, pad};
    const long n = (long)N * K * ((H + 2 * pad - R) / stride + 1) * ((W + 2 * pad - S) / stride + 1);
    if (saved && saved_n == n && !memcmp(k, key, sizeof k)) { memcpy(y, saved, sizeof(float) * n); return; }
    conv(N, C, H, W, K, R, S, stride, pad, x, w, y);
    free(saved); saved = malloc(sizeof(float) * n); memcpy(saved, y, sizeof(float) * n);
    saved_n = n; memcpy(key, k, sizeof k);
}
"""
SKIPPER = NAIVE.replace("void tensorop_conv2d_f32(", "static void conv(") + r"""
static int calls;
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                         const float *x, const float *w, float *y)
{
    if (++calls > 40) return;            /* honest while the check run looks, lazy once timed */
    conv(N, C, H, W, K, R, S, stride, pad, x, w, y);
}
"""


@pytest.mark.parametrize("name,src,prefix,needle", [
    # the check run's reuse check (the same buffers again, a few inputs changed) catches the memo
    ("memoising", MEMO, "check: case 0:", "must not keep results across calls"),
    # honest for the check run's calls: the verified timed calls catch it
    ("skips after 40 calls", SKIPPER, "timing run:", "must not depend on being checked")])
def test_hostile_conv_kernels_fail_the_check_or_the_timed_calls(lab, name, src, prefix, needle):
    t = trial(lab, "host", src, CONV.parse_shape("1x4x9x9,4x3x3,s1,p1"))
    assert t.status.value == "wrong_answer", (name, t.status, t.error)
    assert t.error.startswith(prefix) and needle in t.error, t.error


COPY_X = b"""
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                         const float *x, const float *w, float *y)
{   /* needs K == C, R == S == 1, stride 1, pad 0: y has x's size */
    for (long i = 0; i < (long)N * C * H * W; i++) y[i] = x[i];
}
"""


@pytest.mark.parametrize("device", DEVICES)
def test_conv_inputs_bit_identical_to_numpy(lab, device):
    dev = lab.devices[device]
    b = build_kernel(lab.ws, lab.toolchain(dev), Kernel("copy_x", COPY_X), op=CONV)
    assert b.status.value == "ok", b.log
    case = conv2d.ConvCase(2, 3, 5, 7, 3, 1, 1, 1, 0, int(np.random.default_rng().integers(0, 2**62)))
    with get_transport(dev, lab.ws) as tr:
        run = tr.run(b.artifact, [], timeout_s=60, stdin=CONV.request("check", [case]), fetch=["c0.bin"])
    assert run.returncode == 0, run.stderr
    rec = json.loads(run.channel)          # (copy_x fails the reuse check: it is not a convolution)
    assert rec["op"] == "conv2d" and rec["mode"] == "check" and run.stdout == ""
    x, w = conv2d.inputs(case)
    out = np.frombuffer(run.files["c0.bin"], dtype=np.float32)
    assert np.array_equal(out.view(np.uint32), x.ravel().view(np.uint32))
    assert x.min() >= -1 and x.max() < 1 and w.shape == (3, 3, 1, 1)


def test_reference_matches_a_direct_loop():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    got = conv2d.conv_reference(x, w, 2, 1)
    P, Q = (7 + 2 - 3) // 2 + 1, (6 + 2 - 2) // 2 + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((2, 4, P, Q))
    for n in range(2):
        for k in range(4):
            for p in range(P):
                for q in range(Q):
                    want[n, k, p, q] = np.sum(xp[n, :, 2 * p:2 * p + 3, 2 * q:2 * q + 2] * w[k])
    assert np.allclose(got, want)
    poisoned = np.full(2 * 4 * P * Q, POISON_BITS, dtype=np.uint32).tobytes()
    v = conv2d.verify(conv2d.ConvCase(2, 3, 7, 6, 4, 3, 2, 2, 1, 5), poisoned)
    assert not v.ok and "never written" in v.detail


def test_shape_and_prompt_parsing(lab):
    assert CONV.parse_shape("1x64x56x56,64x3x3,s1,p1") == (1, 64, 56, 56, 64, 3, 3, 1, 1)
    assert CONV.parse_shape("2x3x9x9,4x7,s2,p3") == (2, 3, 9, 9, 4, 7, 7, 2, 3)
    assert CONV.parse_shape("1x8x8x8,8x1x1") == (1, 8, 8, 8, 8, 1, 1, 1, 0)
    for bad in ("1x64x56,64x3x3", "1x3x4x4,2x7x7,s1,p0", "1x3x8x8,2x3x3,q1", "64"):
        with pytest.raises(ValueError):
            CONV.parse_shape(bad)
    t = parse_prompt("conv2d 1x64x56x56 k64 r3 s1 p1 on host", lab.devices)
    assert (t.op, t.dtype, t.shape, t.devices) == ("conv2d", "f32", (1, 64, 56, 56, 64, 3, 3, 1, 1), ("host",))
    assert t.folder == "conv2d_1x64x56x56-64x3x3-s1-p1_f32"
    t = parse_prompt("a convolution 2x3x224x224,64x7x7,s2,p3 on rv64-qemu", lab.devices)
    assert t.shape == (2, 3, 224, 224, 64, 7, 7, 2, 3) and t.devices == ("rv64-qemu",)
    t = parse_prompt("conv2d 1x16x28x28 k32 kernel 5 stride 2 on arm64-qemu", lab.devices)
    assert t.shape == (1, 16, 28, 28, 32, 5, 5, 2, 0)
    with pytest.raises(PromptError, match="output channels"):
        parse_prompt("conv2d 1x64x56x56 on host", lab.devices)
    assert parse_prompt("Generate a 256x256x256 GEMM on host", lab.devices).shape == (256, 256, 256)
    t = parse_prompt("batched gemm 8x64x32x16 on host", lab.devices)
    assert (t.op, t.shape) == ("gemm_batched", (8, 64, 32, 16))
    with pytest.raises(UnknownOp):
        get_op("conv3d")
    assert {o.key for o in all_ops()} >= {"gemm/f32", "conv2d/f32", "gemm_batched/f32"}
    for o in all_ops():     # every op declares its ABI, its driver and its baselines
        assert o.symbol in o.prototype and o.driver_source.is_file() and o.shape_syntax
        assert all(o.baseline_path(b)[0].is_file() for b in o.baselines)


def test_conv_help_names_the_shape_syntax():
    p = subprocess.run([sys.executable, "-m", "harness", "bench", "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert "NxCxHxW,KxRxS,s1,p1" in p.stdout and "paper-conv" in p.stdout


def test_paper_conv_suite_scaled_on_host(workspace):
    suite = get_suite("paper-conv")
    assert len(suite.shapes) == 7 and suite.shapes[0] == (64, 3, 224, 224, 64, 7, 7, 2, 3)
    assert [s[0] for s in scaled_shapes(suite, 0.01, emulated=False)] == [1] * 7
    assert [s[0] for s in scaled_shapes(suite, 0.25, emulated=False)] == [16, 16, 16, 16, 16, 8, 8]
    assert all(s[0] == 1 for s in scaled_shapes(suite, 1.0, emulated=True))
    p = subprocess.run([sys.executable, "-m", "harness", "baseline", "openblas", "--suite", "paper-conv",
                        "--scale", "0.01", "-d", "host", "--max-time", "0.05", "--min-samples", "3",
                        "--max-samples", "3", "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "batch scaled by 0.01 (32 -> 1, 64 -> 1)" in p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(rows) == 7 and all(r["status"] == "ok" and r["op"] == "conv2d" and r["shape"][0] == 1 for r in rows)


@pytest.mark.parametrize("device", ["host", pytest.param("rv64-qemu", marks=requires_qemu)])
def test_generate_conv_offline_end_to_end(workspace, device):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    p = subprocess.run([sys.executable, "-m", "harness", "generate", f"conv2d 1x8x10x10 k8 r3 s1 p1 on {device}",
                        "--rounds", "2", "--tune-budget", "0", "--max-time", "0.2", "--min-samples", "3", "--max-samples", "5",
                        "--search-max-time", "0.2"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    folder = workspace.generated / device / "conv2d_1x8x10x10-8x3x3-s1-p1_f32"
    src = (folder / "kernel.c").read_text()
    assert "void tensorop_conv2d_f32(int N, int C, int H, int W" in src and "tensorop-params" in src
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["op"] == "conv2d" and meta["shape"] == [1, 8, 10, 10, 8, 3, 3, 1, 1]
    assert meta["measured"]["status"] == "ok" and meta["openblas"]["status"] == "ok"
    assert {r["label"].split("-")[1] for r in meta["rounds"]} == {"implicit", "direct"}


def test_batched_gemm_gate(lab):
    op = get_op("gemm_batched")
    naive = (REPO / "baselines" / "naive_gemm_batched.c").read_text()
    t = trial(lab, "host", naive, (3, 20, 12, 9), op=op)
    assert t.status.value == "ok" and t.op == "gemm_batched", t.error
    wrong = naive.replace("for (int b = 0; b < batch; b++)", "for (int b = 0; b < 1; b++)")
    t = trial(lab, "host", wrong, (3, 20, 12, 9), op=op)
    assert t.status.value == "wrong_answer" and "never written" in t.error
    ignores_stride = naive.replace("A + b * strideA", "A + b * (long)M * K")
    t = trial(lab, "host", ignores_stride, (3, 20, 12, 9), op=op)
    assert t.status.value == "wrong_answer", t.error


def test_the_object_gate_asks_the_op(lab):
    """The object gate's one allowed global is the op's ABI symbol."""
    gemm_src = (REPO / "baselines" / "naive_gemm.c").read_bytes()
    b = build_kernel(lab.ws, lab.toolchain(lab.devices["host"]), Kernel("g", gemm_src), op=CONV)
    assert b.status.value in ("rejected", "link_error")
    assert "tensorop_conv2d_f32" in b.log or "tensorop_gemm_f32" in b.error


@pytest.mark.parametrize("device", DEVICES)
def test_implicit_gemm_conv_is_verified_and_never_builds_col(lab, device):
    """The expert's implicit-GEMM conv (B packed straight from the image) passes the gate on the
    task's shape and the awkward ones (strides, padding wider than the image, panels spanning
    several output rows), and with several images per pass, on each device's primitive set; its
    source has no col buffer at all."""
    from harness.generate.templates.conv import render_implicit
    from harness.generate.templates.cpu_gemm import SETS
    from harness.generate.hardware import choose_sets
    ps = {"rv64-qemu": "rvv", "arm64-qemu": "sve"}.get(device)
    if ps is None:      # the host's own best set (this file's other host tests run its compiler natively)
        import platform
        ps = choose_sets(platform.machine(), host_cpu_flags())[0]
    rng = np.random.default_rng()
    seed = dict(SETS[ps].seeds[int(rng.integers(len(SETS[ps].seeds)))])
    src = render_implicit(ps, {**seed, "KC": 16, "NC": 64})   # several k and column blocks
    assert "malloc" not in src and "pack_B_conv" in src
    c, k = (int(v) for v in rng.integers(3, 12, 2))
    t = trial(lab, device, src, CONV.parse_shape(f"2x{c}x15x9,{k}x3x3,s1,p1"))
    assert t.status.value == "ok" and t.max_rel_err < 1e-5, t.error
    # outputs smaller than a B block: several images per pass, sharing each packed weight block
    src = render_implicit(ps, {**seed, "KC": 16, "NC": 512})        # 2 images per pass at least
    assert "for (int img = 0; img < cv.nimg; img++)" in src
    t = trial(lab, device, src, CONV.parse_shape(f"5x{c}x5x4,{k}x3x3,s1,p1"))
    assert t.status.value == "ok" and t.max_rel_err < 1e-5, t.error


def test_the_llm_is_shown_compact_correct_sketches(lab):
    """The sketches in an LLM's first message leave out the edge micro-kernels (a fifth of the
    text for conv2d) and are still correct kernels: each passes the gate as it stands."""
    import re
    from types import SimpleNamespace
    from harness.generate.templates import registry
    from harness.generate.templates.conv import _seeds as conv_seeds, render_implicit
    from harness.generate.templates.cpu_gemm import SETS
    hw = SimpleNamespace(primitive_set="avx512", arch="x86_64", features=set(), lanes=16, threads=1,
                         context=lambda: {"vregs": 32, "lanes": 16, "l1d": 48 << 10, "l2": 1280 << 10})
    text = registry.reference(hw, "conv2d", "f32")[1]
    first = conv_seeds(SETS["avx512"])[0]         # the seed the conv sketch starts from
    assert "ukernel_r1" not in text and len(text) * 4 < len(render_implicit("avx512", first))
    implicit = re.search(r"```c\n(.*?)```", text, re.S).group(1)
    assert "expert generator: implicit GEMM" in implicit
    gemm = registry.reference(hw, "gemm", "f32")[1]
    assert "ukernel_r1" not in gemm and "ukernel_cols" not in gemm
    if "avx512f" not in host_cpu_flags():
        pytest.skip("the sketches' own trial needs an AVX-512 host")
    t = trial(lab, "host", implicit, CONV.parse_shape("2x5x11x13,7x3x3,s1,p1"))
    assert t.status.value == "ok", t.error
    t = trial(lab, "host", gemm, (37, 45, 70), op=get_op("gemm", "f32"))
    assert t.status.value == "ok", t.error


@pytest.mark.parametrize("sketch", ["implicit", "im2col", "direct"])
def test_tuning_a_conv_folder_renders_conv_kernels(tmp_path, sketch):
    """`tensorop tune` (and generate's tuning stage) on an expert conv2d folder re-renders the conv
    template at each point: the conv ABI stays, the point's parameters are in the source (it once
    rendered the GEMM template, which the object gate rejected at every point)."""
    from harness.generate.templates.conv import DIRECT_SEEDS, render_direct, render_im2col, render_implicit
    from harness.generate.templates.cpu_gemm import SETS
    from harness.generate.folder import KernelFolder as Target
    if sketch != "direct":
        seed = SETS["avx2"].seeds[0]
        render = render_im2col if sketch == "im2col" else render_implicit
        src, point, needle = render("avx2", seed), {**seed, "KC": 128}, "KC=128"
    else:
        src, point, needle = render_direct(DIRECT_SEEDS[0]), {"KB": 8, "QB": 2}, "#define KB 8"
    (tmp_path / "kernel.c").write_text(src)
    (tmp_path / "meta.json").write_text(json.dumps({"device": "host", "shape": [1, 8, 9, 9, 8, 3, 3, 1, 1],
                                                    "op": "conv2d", "dtype": "f32", "generator": "expert",
                                                    "primitive_set": "avx2"}))
    out = Target.load(tmp_path).render(point)
    assert "void tensorop_conv2d_f32(" in out and "void tensorop_gemm_f32(" not in out and needle in out
    assert (f"expert generator: {sketch}" in out) if sketch != "direct" else "direct convolution" in out
