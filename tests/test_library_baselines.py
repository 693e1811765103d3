"""Issue 22: the library baselines (baselines/mkl_*.c, baselines/openblas_*.c) through the same
driver, gate and statistics as any kernel: correct against the float64 reference at awkward shapes
with fresh inputs, each result saying which routine ran (SGEMV for a row or a column) and which ISA
path the library took (MKL: its AVX-512/AMX path checked against the CPU), the thread count pinned
to the task's, and a kernel that calls MKL refused by the object gate. Real libraries, no mocks;
MKL's tests skip only where its wheel does not exist (not x86-64)."""
from __future__ import annotations

import platform

import pytest

from harness.backends.cpu.probe import host_cpu_flags
from harness.backends import BaselineUnavailable, device_baseline
from harness.backends.cpu.baselines import LIBRARIES
from harness.campaign.scheduler import Campaign
from harness.campaign.store import Store
from harness.core.measure_options import MeasureOptions
from harness.core.records import Kernel
from harness.measure.runner import build_kernel, run_trial
from harness.ops import get_op
from harness.transport import get_transport

FAST = dict(max_time_s=0.1, min_samples=2, max_samples=3)
X86 = platform.machine() == "x86_64"
needs_mkl = pytest.mark.skipif(not X86, reason="oneMKL's wheels exist for x86-64 only")


def trial(lab, name, shape, op="gemm", dtype="f32", device="host"):
    dev = lab.devices[device]
    o = get_op(op, dtype)
    k = device_baseline(lab.ws, name, dev, o)
    with get_transport(dev, lab.ws) as tr:
        return run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, shape, MeasureOptions.for_device(dev, **FAST), op=o)


@pytest.fixture
def mkl_lab(lab):
    why = LIBRARIES["mkl"].missing(lab.ws, "x86_64", 1)
    if why:   # on x86-64 the wheel exists: a missing one is a set-up failure, not a reason to skip
        pytest.fail(f"MKL is not set up on this x86-64 machine: {why}")
    return lab


@needs_mkl
@pytest.mark.parametrize("shape,routine", [((1, 37, 129), "sgemv"), ((17, 5, 33), "sgemm"),
                                           ((33, 1, 40), "sgemv"), ((64, 48, 80), "sgemm")])
def test_mkl_gemm_is_correct_and_says_its_routine_and_isa(mkl_lab, shape, routine):
    t = trial(mkl_lab, "mkl", shape)
    assert t.status.value == "ok", t.error
    assert t.max_rel_err < 1e-5
    lib = t.meta["library"]
    assert lib["routine"] == routine
    assert lib["library"].startswith("mkl ") and lib["threading"] == "sequential" and lib["threads"] == "1"
    flags = host_cpu_flags()
    if "amx_bf16" in flags or "amx_int8" in flags:
        assert lib["isa"] == "avx512+amx", lib
    elif "avx512f" in flags:
        assert lib["isa"] == "avx512", lib      # the path MKL_VERBOSE names, not a generic one
    assert "error" not in lib


@needs_mkl
@pytest.mark.parametrize("dtype,routine", [("bf16", "gemm_bf16bf16f32"), ("i8", "gemm_s8u8s32"),
                                           ("f16", "gemm_f16f16f32")])
def test_mkl_low_precision_gemm(mkl_lab, dtype, routine):
    for shape in ((1, 37, 129), (17, 5, 33)):
        t = trial(mkl_lab, "mkl", shape, dtype=dtype)
        assert t.status.value == "ok", (shape, t.error)
        assert t.max_rel_err == 0.0 if dtype == "i8" else t.max_rel_err < 1e-5
        assert t.meta["library"]["routine"] == routine


@needs_mkl
def test_mkl_batched(mkl_lab):
    t = trial(mkl_lab, "mkl", (3, 17, 5, 33), op="gemm_batched")
    assert t.status.value == "ok", t.error
    assert t.meta["library"]["routine"] == "sgemm_batch_strided"


@pytest.mark.parametrize("shape,routine", [((1, 37, 129), "sgemv"), ((33, 1, 40), "sgemv"),
                                           ((17, 5, 33), "sgemm")])
def test_openblas_takes_its_best_routine_per_shape(lab, shape, routine):
    t = trial(lab, "openblas", shape)
    assert t.status.value == "ok", t.error
    assert t.max_rel_err < 1e-5
    lib = t.meta["library"]
    assert lib["routine"] == routine and lib["library"] == "openblas 0.3.34" and lib["threads"] == "1"


@needs_mkl
def test_mkl_threads_pinned_to_the_task(mkl_lab):
    """host-2t allows 2 threads: MKL is linked with its GNU threading layer and runs 2 threads."""
    if "host-2t" not in mkl_lab.devices:
        pytest.skip("no host-2t device in devices.yaml")
    t = trial(mkl_lab, "mkl", (64, 64, 64), device="host-2t")
    assert t.status.value == "ok", t.error
    lib = t.meta["library"]
    assert lib["threading"] == "gnu" and lib["threads"] == "2", lib


@needs_mkl
def test_paired_run_against_mkl_carries_both_notes(mkl_lab):
    lab = mkl_lab
    dev = lab.devices["host"]
    op = get_op("gemm", "f32")
    naive = device_baseline(lab.ws, "naive", dev, op)
    mkl = device_baseline(lab.ws, "mkl", dev, op)
    with Store(lab.ws.database) as store, Campaign(lab, store) as c:
        run = c.compare("host", naive, mkl, (1, 256, 256), op, budget_s=1.0)
    assert run.status.value == "ok", run.error
    assert run.library_b["routine"] == "sgemv" and run.library_a == {}
    assert run.ratio is not None and run.ratio.ratio > 0


def test_kernel_calling_mkl_or_a_blas_is_refused(lab, tmp_path):
    """Only a harness-owned baseline may call a library: a kernel calling MKL's CBLAS (linked with
    MKL's libraries even) is rejected by the object gate."""
    src = b"""
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{ cblas_sgemm(101, 111, 111, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc); }
"""
    libs = LIBRARIES["mkl"].libs(lab.ws, "x86_64", 1) if X86 else ()
    b = build_kernel(lab.ws, lab.toolchain(lab.devices["host"]), Kernel("sneaky", src, libs=libs))
    assert b.status.value == "rejected", b.log
    assert "cblas_sgemm" in b.error and "BLAS" in b.error
    note = b'const char *tensorop_lib_note(void) { return "routine=forged"; }\n'
    b = build_kernel(lab.ws, lab.toolchain(lab.devices["host"]),
                     Kernel("forger", note + b"void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, "
                            b"const float *B, int ldb, float *C, int ldc) {}\n"))
    assert b.status.value == "rejected" and "tensorop_lib_note" in b.error


def test_unknown_or_unavailable_baselines_say_what_exists(lab):
    with pytest.raises(BaselineUnavailable, match="known for it: naive, openblas"):
        device_baseline(lab.ws, "mkl", lab.devices["host"], get_op("conv2d", "f32"))
    with pytest.raises(BaselineUnavailable, match="real devices only"):
        device_baseline(lab.ws, "mkl", lab.devices["rv64-qemu"], get_op("gemm", "f32"))


needs_onednn = pytest.mark.skipif(not X86, reason="oneDNN is set up on x86-64 only (Debian's libdnnl-dev)")


@needs_onednn
@pytest.mark.parametrize("shape", [(2, 6, 13, 11, 5, 3, 3, 2, 1), (1, 3, 31, 29, 7, 7, 7, 2, 3),
                                   (3, 17, 9, 10, 4, 1, 1, 1, 0), (1, 33, 14, 14, 20, 3, 3, 1, 1)])
def test_onednn_conv2d_is_correct_and_says_its_implementation(lab, shape):
    why = LIBRARIES["onednn"].missing(lab.ws, "x86_64", 1)
    if why:   # setup installs libdnnl-dev on x86-64: a missing one is a set-up failure
        pytest.fail(f"oneDNN is not set up on this x86-64 machine: {why}")
    t = trial(lab, "onednn", shape, op="conv2d")
    assert t.status.value == "ok", t.error
    assert t.max_rel_err < 1e-5
    lib = t.meta["library"]
    assert lib["library"].startswith("onednn 2.") and lib["threads"] == "1"
    assert lib["routine"] and "error" not in lib, lib       # oneDNN's implementation, e.g. brgconv:avx512_core
    if "avx512f" in host_cpu_flags():
        assert lib["isa"].startswith("avx512"), lib


def test_onednn_is_for_real_devices_and_kernels_may_not_call_it(lab):
    with pytest.raises(BaselineUnavailable, match="real devices only"):
        device_baseline(lab.ws, "onednn", lab.devices["rv64-qemu"], get_op("conv2d", "f32"))
    with pytest.raises(BaselineUnavailable, match="known for it"):
        device_baseline(lab.ws, "onednn", lab.devices["host"], get_op("gemm", "f32"))
    src = b"""
typedef void *dnnl_primitive_t;
int dnnl_primitive_execute(dnnl_primitive_t, void *, int, void *);
void tensorop_conv2d_f32(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                         const float *x, const float *w, float *y)
{ dnnl_primitive_execute(0, 0, 0, 0); }
"""
    libs = LIBRARIES["onednn"].libs(lab.ws, "x86_64", 1) if X86 else ()
    b = build_kernel(lab.ws, lab.toolchain(lab.devices["host"]), Kernel("sneaky", src, libs=libs),
                     op=get_op("conv2d", "f32"))
    assert b.status.value == "rejected", b.log
    assert "dnnl_primitive_execute" in b.error
