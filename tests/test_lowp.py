"""GEMM f16, bf16 and i8: the conversions the driver and NumPy share are bit-exact, the inputs are
bit-identical on every device, the baselines and the expert kernels (widening templates on every
primitive set, AMX tiles where the host has them) pass the gate at awkward shapes, and kernels that
cut precision (f16 or bf16 accumulators, int16 sums) are wrong answers."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, requires_qemu
from harness.backends.cpu.probe import host_cpu_flags
from harness.generate.templates import amx as amx_templates
from harness.generate.prompt import parse_prompt
from harness.generate.templates.registry import render
from harness.core.measure_options import MeasureOptions
from harness.measure.limits import peak_check
from harness.ops import get_op
from harness.ops.gemm import GemmCase
from harness.ops.gemm_lowp import bf16_bits, f16_matrix, i8_matrix
from harness.transport import get_transport
from harness.core.records import Kernel
from harness.measure.runner import build_kernel, run_trial

DRIVER = REPO / "harness" / "driver"
DTYPES = ("f16", "bf16", "i8")
FAST = dict(max_time_s=0.2, min_samples=3, max_samples=8)
SHAPES = [(67, 43, 131), (1, 300, 70), (5, 1000, 129), (33, 64, 65)]


def trial(lab, device, source, shape, dtype, label="k"):
    dev = lab.devices[device]
    k = Kernel(label, source.encode() if isinstance(source, str) else source)
    with get_transport(dev, lab.ws) as tr:
        return run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, shape, MeasureOptions.for_device(dev, **FAST),
                         op=get_op("gemm", dtype))


# ---- conversions ------------------------------------------------------------------------
CONVERT = r"""
#include <stdio.h>
#include "tensorop_lowp.h"
int main(void)
{
    float f;
    while (fread(&f, 4, 1, stdin) == 1) {
        uint16_t h = tensorop_f32_to_f16(f), b = tensorop_f32_to_bf16(f);
        float back = tensorop_f16_to_f32(h), bback = tensorop_bf16_to_f32(b);
        fwrite(&h, 2, 1, stdout); fwrite(&b, 2, 1, stdout); fwrite(&back, 4, 1, stdout); fwrite(&bback, 4, 1, stdout);
    }
    return 0;
}
"""


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_conversions_match_numpy_bit_for_bit(tmp_path):
    src = tmp_path / "convert.c"
    src.write_text(CONVERT)
    exe = tmp_path / "convert"
    subprocess.run(["cc", "-O2", f"-I{DRIVER}", str(src), "-o", str(exe)], check=True)
    rng = np.random.default_rng()
    # random values at every scale, the f16 subnormal range, exact halfway cases, overflow, inf, NaN
    halfway = (np.arange(1, 2048, dtype=np.float32) + np.float32(0.5)) * np.float32(2.0 ** -24)
    values = np.concatenate([
        rng.uniform(-1, 1, 4000).astype(np.float32),
        (rng.standard_normal(4000) * 10.0 ** rng.integers(-9, 5, 4000)).astype(np.float32),
        halfway, -halfway, (np.arange(1, 1024, dtype=np.float32) + np.float32(0.5)) * np.float32(2.0 ** -10) + 1,
        np.array([0.0, -0.0, 65504, 65519.99, 65520, 1e6, -1e6, np.inf, -np.inf, 2.0 ** -25, 2.0 ** -26,
                  1.5 * 2.0 ** -24, 2.5 * 2.0 ** -24], dtype=np.float32)])
    out = subprocess.run([str(exe)], input=values.tobytes(), capture_output=True, check=True).stdout
    rec = np.frombuffer(out, dtype=np.dtype([("h", "<u2"), ("b", "<u2"), ("back", "<f4"), ("bback", "<f4")]))
    assert len(rec) == len(values)
    with np.errstate(over="ignore"):
        want_h = values.astype(np.float16)
    assert np.array_equal(rec["h"], want_h.view(np.uint16))
    assert np.array_equal(rec["back"], want_h.astype(np.float32))
    finite = np.isfinite(values) & (np.abs(values) < 3e38)
    assert np.array_equal(rec["b"][finite], bf16_bits(values[finite]))
    assert np.array_equal(rec["bback"][finite], (bf16_bits(values[finite]).astype(np.uint32) << 16).view(np.float32))
    out = subprocess.run([str(exe)], input=np.array([np.nan], dtype=np.float32).tobytes(), capture_output=True,
                         check=True).stdout
    assert np.isnan(np.frombuffer(out[4:8], dtype=np.float32)[0])


# ---- inputs bit-identical on the devices ---------------------------------------------------
COPY_A = {
    "f16": "void tensorop_gemm_f16(int M, int N, int K, const unsigned short *A, int lda, const unsigned short *B,"
           " int ldb, float *C, int ldc)",
    "bf16": "void tensorop_gemm_bf16(int M, int N, int K, const unsigned short *A, int lda, const unsigned short *B,"
            " int ldb, float *C, int ldc)",
    "i8": "void tensorop_gemm_i8(int M, int N, int K, const signed char *A, int lda, const signed char *B,"
          " int ldb, int *C, int ldc)",
}


@pytest.mark.parametrize("device", ["host", pytest.param("rv64-qemu", marks=requires_qemu),
                                    pytest.param("arm64-qemu", marks=requires_qemu)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_bit_identical_to_numpy(lab, device, dtype):
    """A kernel that copies A's raw elements into C (as integers) shows what the driver generated."""
    src = COPY_A[dtype] + "\n{ for (int i = 0; i < M; i++) for (int j = 0; j < K && j < N; j++) " \
                          "C[(long)i * ldc + j] = A[(long)i * lda + j]; }\n"
    op = get_op("gemm", dtype)
    dev = lab.devices[device]
    b = build_kernel(lab.ws, lab.toolchain(dev), Kernel("copy_a", src.encode()), op=op)
    assert b.status.value == "ok", b.log
    case = GemmCase(6, 9, 9, 11, 9, 9, int(np.random.default_rng().integers(0, 2**62)))
    with get_transport(dev, lab.ws) as tr:
        run = tr.run(b.artifact, [], timeout_s=60, stdin=op.request("check", [case]), fetch=["c0.bin"])
    assert run.returncode == 0, run.stderr
    assert json.loads(run.channel)["mode"] == "check"     # (copy_a fails the reuse check: it is not a GEMM)
    raw = np.frombuffer(run.files["c0.bin"], dtype=np.float32 if dtype != "i8" else np.int32).reshape(6, 9)
    if dtype == "f16":
        want = f16_matrix(case.seed, 0, 6, 9).view(np.uint16)
    elif dtype == "bf16":
        want = bf16_bits(op.inputs(case)[0])
    else:
        want = i8_matrix(case.seed, 0, 6, 9)
    assert np.array_equal(raw.astype(np.int64), want.astype(np.int64))


# ---- kernels that pass, kernels that cut precision -------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_baselines_and_the_widening_expert_pass_the_gate(lab, dtype):
    for name in ("naive", "openblas"):
        from harness.backends.cpu.baselines import baseline_kernel
        k = baseline_kernel(lab.ws, name, "x86_64", op=get_op("gemm", dtype))
        dev = lab.devices["host"]
        with get_transport(dev, lab.ws) as tr:
            t = run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, (67, 43, 131), MeasureOptions.for_device(dev, **FAST),
                          op=get_op("gemm", dtype))
        assert t.status.value == "ok", (name, t.error)
    ps = "avx512" if "avx512f" in host_cpu_flags() else "scalar"
    from harness.generate.templates.cpu_gemm import SETS
    for shape in SHAPES:
        t = trial(lab, "host", render(ps, dict(SETS[ps].seeds[0]), dtype=dtype), shape, dtype)
        assert t.status.value == "ok", (shape, t.error)
        assert t.max_rel_err == 0.0 if dtype == "i8" else t.max_rel_err < 1e-5


@requires_qemu
@pytest.mark.parametrize("device,ps,dtype", [("rv64-qemu", "rvv", "f16"), ("arm64-qemu", "sve", "i8"),
                                             ("a76-qemu", "neon", "bf16")])
def test_widening_expert_kernels_pass_under_qemu(lab, device, ps, dtype):
    from harness.generate.templates.cpu_gemm import SETS
    t = trial(lab, device, render(ps, dict(SETS[ps].seeds[0]), dtype=dtype), (19, 37, 45), dtype)
    assert t.status.value == "ok", t.error
    assert t.cycles and t.cycles > 0


HOST_FLAGS = host_cpu_flags()


@pytest.mark.parametrize("dtype", ["bf16", "i8"])
def test_amx_kernels_pass_the_gate_where_the_host_has_amx(lab, dtype):
    if not amx_templates.available(dtype, HOST_FLAGS):
        pytest.skip(f"this host has no AMX for {dtype}")
    src = amx_templates.render(dtype, dict(amx_templates.SEEDS[0]))
    for shape in [*SHAPES, (64, 96, 1100), (3, 5, 2)]:
        t = trial(lab, "host", src, shape, dtype, label="amx")
        assert t.status.value == "ok", (shape, t.error)
        assert not peak_check(lab.devices["host"], t)


F16_ACC = COPY_A["f16"] + r"""
{   /* accumulates in binary16: ~1e-3 relative error */
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
        _Float16 s = 0;
        for (int k = 0; k < K; k++) {
            _Float16 a, b; __builtin_memcpy(&a, &A[(long)i * lda + k], 2); __builtin_memcpy(&b, &B[(long)k * ldb + j], 2);
            s += a * b;
        }
        C[(long)i * ldc + j] = (float)s;
    }
}
"""
BF16_ACC = COPY_A["bf16"] + r"""
{   /* rounds the accumulator to bfloat16 after every step (truncating the low half) */
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
        float s = 0;
        for (int k = 0; k < K; k++) {
            unsigned a = (unsigned)A[(long)i * lda + k] << 16, b = (unsigned)B[(long)k * ldb + j] << 16, t;
            float fa, fb; __builtin_memcpy(&fa, &a, 4); __builtin_memcpy(&fb, &b, 4);
            s += fa * fb;
            __builtin_memcpy(&t, &s, 4); t &= 0xffff0000u; __builtin_memcpy(&s, &t, 4);
        }
        C[(long)i * ldc + j] = s;
    }
}
"""
I16_ACC = COPY_A["i8"] + r"""
{   /* int16 sums: wrap around once |sum| > 32767 */
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
        short s = 0;
        for (int k = 0; k < K; k++) s = (short)(s + A[(long)i * lda + k] * B[(long)k * ldb + j]);
        C[(long)i * ldc + j] = s;
    }
}
"""


@pytest.mark.parametrize("dtype,src", [("f16", F16_ACC), ("bf16", BF16_ACC), ("i8", I16_ACC)])
def test_kernels_that_cut_precision_are_wrong_answers(lab, dtype, src):
    t = trial(lab, "host", src, (32, 48, 200), dtype, label="cheap")
    assert t.status.value == "wrong_answer", (t.status, t.error)
    assert ("int32 results wrong" in t.error) if dtype == "i8" else ("relative Frobenius error" in t.error)


def test_prompts_name_the_dtype(lab):
    for text, dtype in [("int8 gemm 64x64x64 on host", "i8"), ("bf16 matmul 128x256x64 on host", "bf16"),
                        ("hgemm 1x4096x4096 on host", "f16"), ("gemm 256 on host", "f32")]:
        task = parse_prompt(text, lab.devices)
        assert (task.op, task.dtype) == ("gemm", dtype), text
        assert task.the_op.symbol == f"tensorop_gemm_{dtype}"


def test_llama_suite_holds_the_projection_shapes():
    from harness.ops.suites import get_suite, scaled_shapes
    s = get_suite("llama")
    shapes = set(s.shapes)
    for m in (1, 16, 128):     # Llama-7B q/k/v/o, gate/up, down; Llama-3-70B q/o, k/v (GQA), gate/up, down
        assert {(m, 4096, 4096), (m, 11008, 4096), (m, 4096, 11008), (m, 8192, 8192), (m, 1024, 8192),
                (m, 28672, 8192), (m, 8192, 28672)} <= shapes
    assert len(shapes) == len(s.shapes) == 21
    assert scaled_shapes(s, 1.0, emulated=True) == [(1, 4096, 4096), (1, 11008, 4096), (1, 4096, 11008)]
    assert scaled_shapes(s, 0.5, emulated=False) == list(s.shapes)
    assert all(s.allows(d) for d in ("f32", "f16", "bf16", "i8"))
    assert not get_suite("paper-conv").allows("i8")


def test_tuning_re_renders_the_kernels_own_template(tmp_path):
    """A generated folder records the device's primary set (avx512) in meta.json and the kernel's own
    (here AMX tiles, i8) in params.json: the tuner renders its points with the kernel's own."""
    from harness.generate.folder import KernelFolder as Target
    point = dict(amx_templates.SEEDS[0])
    (tmp_path / "kernel.c").write_text(amx_templates.render("i8", point))
    (tmp_path / "meta.json").write_text(json.dumps({"device": "host", "shape": [64, 64, 64], "generator": "expert",
                                                    "primitive_set": "avx512", "op": "gemm", "dtype": "i8"}))
    (tmp_path / "params.json").write_text(json.dumps({"values": {**point, "primitive_set": "amx"}}))
    t = Target.load(tmp_path)
    assert t.primitive_set == "amx" and t.op.symbol == "tensorop_gemm_i8"
    src = t.render({**point, "KC": 256})
    assert "_tile_dpbssd" in src and "#define KC 256" in src and "tensorop_gemm_i8(" in src
