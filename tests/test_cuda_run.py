"""The CUDA run path end to end on a machine WITHOUT a GPU (issue 11, part 4): bench/trial builds,
gates and links the driver (paired too), runs it in the sandbox and records a classified
device_error; hostile kernels are rejected before running; the expert's CUDA candidates compile
with tensor-core instructions; generate fails clearly with the compile-only report. The pure
parts (sandbox arguments, the CUDA op, the peak check, the error classification) always run.

What cudaGetDeviceCount says here (static CUDA runtime, no libcuda.so.1, no /dev/nvidia*):
cudaErrorInsufficientDriver ("CUDA driver version is insufficient for CUDA runtime version"); a
machine with the driver but no GPU says cudaErrorNoDevice ("no CUDA-capable device is detected").
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.backends.cuda.failures import cuda_failure
from harness.measure.check import run_failure
from harness.config.devices import Device
from harness.backends.cuda import peak
from harness.backends.cuda.ops import cuda_op
from harness.ops import gemm, get_op
from harness.core.records import RunResult, Status, Trial
from harness.sandbox.gpu import gpu_device_nodes, gpu_sandbox_args

from test_cuda import MISSING, TC, needs_cuda_tools

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels" / "cuda"
DRIVER_DIR = ROOT / "harness" / "driver"
NO_GPU = ("cudaErrorInsufficientDriver", "cudaErrorNoDevice")
HAS_GPU = Path("/dev/nvidiactl").exists()
no_gpu_here = pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU: the no-GPU classification is not what runs")

DEVICES_YAML = """
devices:
  host:
    arch: native
    toolchain: host-cc
  gpu80:
    arch: native
    transport: local
    toolchain: cuda-nvcc
    features: [cuda, sm_80, tensor-cores]
    timeout_s: 30
  gpu90:
    arch: native
    transport: local
    toolchain: cuda-nvcc
    features: [cuda, sm_90a, tensor-cores]
    timeout_s: 30
"""


def _gpu(sm="sm_90a") -> Device:
    return Device(name="g", arch="native", toolchain="cuda-nvcc", features=("cuda", sm, "tensor-cores"))


# ---- pure parts ----------------------------------------------------------------------------------
def test_sandbox_binds_gpu_nodes_from_a_listing():
    listing = ["null", "nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset",
               "nvidia-caps", "nvidia-foo", "nvme0", "tty"]
    assert gpu_device_nodes(listing) == ["/dev/nvidia-caps", "/dev/nvidia-modeset", "/dev/nvidia-uvm",
                                         "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"]
    args = gpu_sandbox_args(listing, exists=lambda p: p != "/etc/ld.so.cache")
    pairs = [tuple(args[i:i + 3]) for i in range(0, len(args), 3)]
    assert ("--dev-bind", "/dev/nvidia0", "/dev/nvidia0") in pairs and ("--dev-bind", "/dev/nvidiactl",
                                                                       "/dev/nvidiactl") in pairs
    assert ("--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia") in pairs and ("--ro-bind", "/sys", "/sys") in pairs
    assert not any("nvidia-foo" in a or "nvme" in a or "ld.so.cache" in a for a in args)
    assert gpu_sandbox_args([], exists=lambda p: False) == []


def test_local_transport_gpu_args_and_limits_only_for_cuda_devices(monkeypatch, tmp_path):
    """A CUDA device's runs get the GPU binds and no address-space limit; a CPU device's do not."""
    import harness.transport.local as local
    from harness.core.records import Artifact
    from harness.core.workspace import Workspace
    seen = []
    monkeypatch.setattr(local, "sandbox_prefix", lambda work, readable, extra=(): seen.append(list(extra)) or [])
    monkeypatch.setattr(local, "gpu_sandbox_args", lambda: ["--dev-bind", "/dev/nvidia0", "/dev/nvidia0"])
    limits = []

    class Rec(local.Limits):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            limits.append(self)
    monkeypatch.setattr(local, "Limits", Rec)
    ws = Workspace(tmp_path)
    art = Artifact(key="k", executable=Path("/bin/true"), runtime_libs=(), toolchain="t", toolchain_version="v",
                   cflags=(), ldflags=())
    for dev in (Device(name="cpu", arch="native", toolchain="host-cc"), _gpu()):
        r = local.LocalTransport(dev, ws).run(art, [], timeout_s=10)
        assert r.returncode == 0, r
    assert seen == [[], ["--dev-bind", "/dev/nvidia0", "/dev/nvidia0"]]
    assert limits[0].address_space == local.Limits.address_space and limits[1].address_space is None


def test_cuda_op_keeps_the_cpu_ops_inputs_with_the_cuda_abi_and_bound():
    f16 = cuda_op(get_op("gemm", "f16"))
    assert f16.symbol == "tensorop_gemm_f16_cuda" and f16.pair_symbol == "tensorop_gemm_f16_cuda_b"
    assert (f16.name, f16.dtype, f16.key) == ("gemm", "f16", "gemm/f16") and cuda_op(f16) is f16
    assert get_op("gemm", "f16").symbol == "tensorop_gemm_f16"          # the registry's op is untouched
    assert cuda_op(get_op("conv2d", "f32")).symbol == "tensorop_conv2d_f32_cuda"
    assert cuda_op(get_op("gemm", "bf16")).symbol == "tensorop_gemm_bf16"   # no CUDA ABI: unchanged
    case = gemm.GemmCase.padded(37, 29, 301, secrets.randbits(62))
    assert f16.rel_error_bound(case) == pytest.approx(1e-4)
    A, B = f16.inputs(case)
    assert A.dtype == np.float16 and np.array_equal(A, gemm.matrix(case.seed, 0, 37, 301).astype(np.float16))
    # a tensor-core-like result (f32 accumulation, truncated products' error ~1e-5) passes; f16 accumulation fails
    ref = f16.reference(case)
    out = np.full((case.M, case.ldc), np.uint32(gemm.POISON_BITS).view(np.float32), dtype=np.float32)
    out[:, :case.N] = (ref * (1 + 2e-5 * np.random.default_rng().standard_normal(ref.shape))).astype(np.float32)
    assert f16.verify(case, out.tobytes()).ok
    out[:, :case.N] = ref.astype(np.float16).astype(np.float32) * (1 + 2e-3 * np.random.default_rng().standard_normal(ref.shape))
    assert not f16.verify(case, out.tobytes()).ok


def test_gpu_peak_check():
    h100 = {"name": "NVIDIA H100 80GB HBM3", "sms": 132, "clock_khz": 1980000}
    p, how = peak.peak_gflops("sm_90a", "f16", h100)
    assert p == pytest.approx(4096 * 132 * 1.98) and "132 SMs" in how
    assert peak.check("sm_90a", "f16", 900e3, h100, "h100") == ""
    assert "physical peak" in peak.check("sm_90a", "f16", 1.3e6, h100, "h100")
    # a forged record cannot raise the ceiling above the largest part; a missing one gets that part
    assert peak.peak_gflops("sm_90a", "f16", {"sms": 10_000, "clock_khz": 9e9})[0] == pytest.approx(p)
    assert peak.peak_gflops("sm_90a", "f16", None)[0] == pytest.approx(p)
    # f32: FFMA, or 3xTF32 on tensor cores where that is faster (an honest f32 kernel may do it)
    assert peak.peak_gflops("sm_80", "f32", {"sms": 108, "clock_khz": 1410000})[0] == pytest.approx(341 * 108 * 1.41)
    assert "physical peak" in peak.check("sm_89", "f32", 200e3, {"sms": 128, "clock_khz": 2520000}, "4090")
    from harness.measure.limits import peak_check
    t = Trial(device="g", op="gemm", shape=(4096, 4096, 4096), dtype="f16", kernel="k", source_hash="x",
              status=Status.OK, gflops=2e6, meta={"gpu": h100})
    assert "physical peak" in peak_check(_gpu(), t)
    t.gflops = 500e3
    assert peak_check(_gpu(), t) == ""


def _cuda_run(rec: dict, rc: int = 6) -> RunResult:
    return RunResult(rc, "", "tensorop driver: ...", 0.1, channel=(json.dumps({"tensorop": "driver", **rec}) +
                                                                    "\n").encode())


def test_cuda_error_records_are_classified():
    dev = _gpu()
    st, msg = run_failure(_cuda_run({"mode": "check", "phase": "setup", "gpu": None, "cuda_error":
                                     "cudaGetDeviceCount: cudaErrorNoDevice (no CUDA-capable device is detected)"}),
                          dev, "check")
    assert st is Status.DEVICE_ERROR and "g:" in msg and "no CUDA-capable device" in msg and "SSH device" in msg
    st, msg = run_failure(_cuda_run({"mode": "time", "phase": "run", "gpu": {"name": "NVIDIA A100"},
                                     "cuda_error": "the kernel (timed call): cudaErrorIllegalAddress (an illegal "
                                                   "memory access was encountered)"}), dev, "timing run")
    assert st is Status.CRASH and "illegal memory access" in msg and "A100" in msg
    assert cuda_failure(RunResult(6, "", "", 0.1), dev, "check") is None       # no record: not a CUDA verdict
    st, _ = run_failure(RunResult(6, "", "", 0.1), dev, "check")
    assert st is Status.CRASH
    st, msg = run_failure(RunResult(127, "", "./driver: error while loading shared libraries: libcudnn.so.9: "
                                             "cannot open shared object file", 0.1), dev, "paired run")
    assert st is Status.DEVICE_ERROR and "libcudnn.so.9" in msg and "pip install nvidia-cudnn-cu13" in msg


def test_cuda_prompt_for_the_llm():
    from harness.generate import cuda as cg
    from harness.generate.base import Task
    task = Task("gemm", (4096, 4096, 4096), "f16", ("g",))
    hw = cg.factors(_gpu())
    assert hw.primitive_set == "cuda" and hw.arch == "sm_90a"
    sysmsg, first = cg.system_message(cuda_op(task.the_op)), cg.first_message(task, hw)
    assert "tensorop_gemm_f16_cuda" in sysmsg and "cudaStream_t stream" in sysmsg and "```cuda" in sysmsg
    assert "wgmma" in first and "mma.sync" in first and "mma_gemm" in first     # hints, sketch, expert kernel
    assert cg.check_source("extern \"C\" void tensorop_gemm_f16_cuda(int M) {", cuda_op(task.the_op))
    assert "does not define" in cg.check_source("void f() {}", cuda_op(task.the_op))


# ---- the driver's GEMM inputs on the host against NumPy ------------------------------------------
@pytest.fixture(scope="module")
def gemm_inputs_host(tmp_path_factory):
    if MISSING[:1] == ["nvcc"]:
        pytest.skip("nvcc not installed")
    from harness.backends.cuda import tools
    out = {}
    for dt, flags in (("f32", []), ("f16", ["-DTENSOROP_F16"])):
        exe = tmp_path_factory.mktemp("gi") / f"gemm_inputs_{dt}"
        p = subprocess.run([tools.nvcc(TC), *TC.cflags, "-gencode", "arch=compute_80,code=sm_80", *flags,
                            f"-I{DRIVER_DIR}", str(ROOT / "tests" / "cuda" / "gemm_inputs_host.cu"), "-o", str(exe)],
                           capture_output=True, text=True, env=TC.environ())
        assert p.returncode == 0, p.stderr
        out[dt] = exe
    return out


@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("dims", [(67, 43, 131, "tight"), (131, 97, 257, "padded"), (3, 5, 2, "tight")])
def test_driver_gemm_inputs_match_numpy_bit_for_bit(gemm_inputs_host, tmp_path, dtype, dims):
    M, N, K, kind = dims
    case = getattr(gemm.GemmCase, kind)(M, N, K, secrets.randbits(64))     # fresh every run
    out = tmp_path / "in.bin"
    p = subprocess.run([str(gemm_inputs_host[dtype]), case.arg(), str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and f"dtype={dtype}" in p.stdout, p.stderr
    A, B = get_op("gemm", dtype).inputs(case)                               # the op the trial verifies with
    bits = np.uint16 if dtype == "f16" else np.uint32
    raw = np.fromfile(out, dtype=bits)
    gA = raw[:M * case.lda].reshape(M, case.lda)
    gB = raw[M * case.lda:].reshape(K, case.ldb)
    assert np.array_equal(gA[:, :K], A.view(bits)) and np.array_equal(gB[:, :N], B.view(bits)), f"seed {case.seed}"
    assert np.isnan(gA[:, K:].view(A.dtype)).all() and np.isnan(gB[:, N:].view(B.dtype)).all()


# ---- the trial path on a local CUDA device (no GPU here) -----------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from harness.config.lab import Lab
    from harness.sandbox.bubblewrap import SandboxUnavailable, _bwrap
    if MISSING:
        pytest.skip(f"CUDA tools not installed ({', '.join(MISSING)})")
    try:
        _bwrap()
    except SandboxUnavailable as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("cudarun")
    (d / "devices.yaml").write_text(DEVICES_YAML)
    return Lab.load(devices_file=d / "devices.yaml")


def _trial(lab, device: str, kernel: Path, op, shape=(96, 80, 72), **kw):
    from harness.transport import get_transport
    from harness.core.records import Kernel
    from harness.measure.runner import MeasureOptions, run_trial
    dev = lab.devices[device]
    with get_transport(dev, lab.ws) as tr:
        return run_trial(lab.ws, dev, lab.toolchain(dev), tr, Kernel.from_file(kernel, **kw), shape,
                         MeasureOptions.for_device(dev), op=op)


@no_gpu_here
@pytest.mark.parametrize("kernel,dtype,device", [("simt_f32.cu", "f32", "gpu80"), ("wmma_f16.cu", "f16", "gpu90")])
def test_trial_builds_links_runs_sandboxed_and_classifies_no_gpu(lab, kernel, dtype, device):
    t = _trial(lab, device, KERNELS / kernel, get_op("gemm", dtype))
    assert t.status is Status.DEVICE_ERROR, t.error
    assert f"{device}: CUDA is not available" in t.error and any(e in t.error for e in NO_GPU)
    assert t.toolchain == "cuda-nvcc" and "cuda_gemm_driver.cu" in t.build_log      # linked with the driver
    assert t.command and Path(t.command[0]).name == "driver" and (t.dtype, t.op) == (dtype, "gemm")


@no_gpu_here
def test_conv_trial_and_cli_bench_reach_the_device(lab):
    t = _trial(lab, "gpu80", KERNELS / "conv2d_implicit_gemm_f32.cu", get_op("conv2d", "f32"),
               shape=(1, 8, 13, 11, 6, 3, 3, 1, 1))
    assert t.status is Status.DEVICE_ERROR and "CUDA is not available" in t.error
    p = subprocess.run([sys.executable, "-m", "harness", "bench", str(KERNELS / "mma_sync_f16.cu"), "--dtype",
                        "f16", "--shape", "128x96x64", "--device", "gpu90", "--devices-file",
                        str(lab.devices["gpu90"].source), "--json"], capture_output=True, text=True, cwd=ROOT)
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert p.returncode == 1 and recs[0]["status"] == "device_error" and "gpu90" in recs[0]["error"], p.stderr


def test_kernel_of_another_abi_is_rejected_naming_both(lab):
    t = _trial(lab, "gpu80", KERNELS / "wmma_f16.cu", get_op("gemm", "f32"))
    assert t.status is Status.REJECTED and "tensorop_gemm_f16_cuda" in t.error and "--dtype f16" in t.error
    assert not t.command                                                    # nothing ran


@pytest.mark.parametrize("kernel", ["host_side_effects.cu", "device_printf.cu", "cudnn_conv2d.cu"])
def test_hostile_kernels_are_rejected_before_running(lab, kernel):
    src = (KERNELS / "faulty" / kernel).read_bytes()
    op = get_op("conv2d", "f32") if b"tensorop_conv2d_f32_cuda" in src else \
        get_op("gemm", "f16" if b"tensorop_gemm_f16_cuda" in src else "f32")
    t = _trial(lab, "gpu90", KERNELS / "faulty" / kernel, op, shape=(1, 4, 9, 9, 4, 3, 3, 1, 1)
               if op.name == "conv2d" else (96, 80, 72))
    assert t.status is Status.REJECTED and "object gate" in t.error, t.error
    assert not t.command


def _defined(exe: Path) -> set[str]:
    out = subprocess.run(["nm", "--defined-only", str(exe)], capture_output=True, text=True).stdout
    return {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}


def test_paired_build_kernel_vs_kernel_and_its_run(lab):
    from harness.measure import compare as objective
    from harness.transport import get_transport
    from harness.core.records import Kernel
    from harness.measure.runner import build_kernel
    dev = lab.devices["gpu90"]
    a, b = Kernel.from_file(KERNELS / "wmma_f16.cu"), Kernel.from_file(KERNELS / "mma_sync_f16.cu")
    op = cuda_op(get_op("gemm", "f16"))
    res = build_kernel(lab.ws, lab.toolchain(dev), a, partner=b, op=op, device=dev)
    assert res.status is Status.OK, res.error
    syms = _defined(res.artifact.executable)
    assert {"tensorop_gemm_f16_cuda", "tensorop_gemm_f16_cuda_b"} <= syms and "-DTENSOROP_PAIR" in res.log
    same = build_kernel(lab.ws, lab.toolchain(dev), a, partner=a, op=op, device=dev)   # a kernel against itself
    assert same.status is Status.OK, same.error                                        # (launch stubs kept local)
    if not HAS_GPU:
        with get_transport(dev, lab.ws) as tr:
            run = objective.paired(lab.ws, dev, lab.toolchain(dev), tr, a, b, (128, 128, 64),
                                   op=get_op("gemm", "f16"), budget_s=5)
        assert run.status is Status.DEVICE_ERROR and "gpu90: CUDA is not available" in run.error
    hostile = Kernel.from_file(KERNELS / "faulty" / "fma_only_f16.cu")
    ok = build_kernel(lab.ws, lab.toolchain(dev), a, partner=hostile, op=op, device=dev)
    assert ok.status is Status.OK      # slow but honest: passes the gate (the warning is the report's)
    bad = Kernel.from_file(KERNELS / "faulty" / "host_side_effects.cu")
    r = build_kernel(lab.ws, lab.toolchain(dev), Kernel.from_file(KERNELS / "simt_f32.cu"), partner=bad,
                     op=cuda_op(get_op("gemm", "f32")), device=dev)
    assert r.status is Status.REJECTED and "paired kernel" in r.error


def test_paired_build_against_the_vendor_baselines(lab):
    from harness.measure import compare as objective
    from harness.backends import BaselineUnavailable, device_baseline
    from harness.backends.cuda import tools
    from harness.transport import get_transport
    from harness.core.records import Kernel
    dev = lab.devices["gpu80"]
    if tools.library_lib("cublas", lab.ws.cache) is None:     # this machine: headers only, no 600 MB library
        with pytest.raises(BaselineUnavailable, match="(libcublas|cublas_v2.h).*(pip install nvidia-cublas|CUDA toolkit)"):
            device_baseline(lab.ws, "vendor", dev, get_op("gemm", "f32"))
    with pytest.raises(BaselineUnavailable, match="CUDA device"):
        device_baseline(lab.ws, "naive", dev, get_op("gemm", "f32"))
    conv = get_op("conv2d", "f32")
    try:
        base = device_baseline(lab.ws, "openblas", dev, conv)      # on a GPU: the vendor library (cuDNN)
    except BaselineUnavailable as e:
        pytest.skip(f"cuDNN loader not fetched: {e}")
    assert base.label == "cudnn" and base.allow_blas
    k = Kernel.from_file(KERNELS / "conv2d_implicit_gemm_f32.cu")
    from harness.measure.runner import build_kernel
    res = build_kernel(lab.ws, lab.toolchain(dev), k, partner=base, op=cuda_op(conv), device=dev)
    assert res.status is Status.OK, res.error
    exe = res.artifact.executable
    assert (exe.parent / "libcudnn.so.9").exists() and [p.name for p in res.artifact.runtime_libs] == ["libcudnn.so.9"]
    assert {"tensorop_conv2d_f32_cuda", "tensorop_conv2d_f32_cuda_b"} <= _defined(exe)
    if not HAS_GPU:
        with get_transport(dev, lab.ws) as tr:
            run = objective.paired(lab.ws, dev, lab.toolchain(dev), tr, k, base, (1, 8, 13, 11, 6, 3, 3, 1, 1),
                                   op=conv, budget_s=5)
        assert run.status is Status.DEVICE_ERROR and "CUDA is not available" in run.error   # the loader loaded


# ---- the expert's CUDA candidates ----------------------------------------------------------------
@needs_cuda_tools
# make test: each op on one architecture (sm_90a's f16 has the wgmma kernel); test-all: both
@pytest.mark.parametrize("sm,op,dtype", [
    ("sm_90a", "gemm", "f16"), ("sm_80", "gemm", "f32"), ("sm_90a", "conv2d", "f32"),
    pytest.param("sm_80", "gemm", "f16", marks=pytest.mark.slow),
    pytest.param("sm_90a", "gemm", "f32", marks=pytest.mark.slow),
    pytest.param("sm_80", "conv2d", "f32", marks=pytest.mark.slow)])
def test_expert_cuda_candidates_compile_and_pass_the_gate(tmp_path, sm, op, dtype):
    from harness.backends.cuda.build import build_cuda
    from harness.generate.templates.cuda import plan
    from harness.generate.base import Task
    from harness.generate.expert import ExpertGenerator
    from harness.generate.cuda import factors
    from harness.generate.templates.cuda import expert_files
    cands = plan(op, dtype, sm, 4)
    assert cands
    gen = ExpertGenerator(points=4)
    first = gen.propose(Task(op, (256, 256, 256) if op == "gemm" else (1, 16, 28, 28, 16, 3, 3, 1, 1), dtype, ("g",)),
                        factors(_gpu(sm)), [])
    assert first is not None and first.source == cands[0][1] and first.label == f"expert-{cands[0][0]}"
    # each template's default, then its highest-prior points: the biggest register tiles, where
    # spills would show first (benchmarks/cuda_template_points.py builds every point)
    templates_tried = {params["kernel_file"] for _, _, params in cands}
    assert templates_tried == set(expert_files(op, dtype, sm))
    for label, source, _ in cands:
        b = build_cuda(source.encode(), "kernel.cu", _gpu(sm), TC, tmp_path, link=False)
        assert b.ok and (b.op, b.dtype) == (op, dtype), b.result.error
        if dtype == "f16":
            assert b.report.tensor_instructions > 0, label
        else:
            assert b.report.tensor_instructions == 0, label
            assert sum(f.fma_instructions for f in b.report.functions) > 0, label
        assert all(f.spill_stores == 0 for f in b.report.functions), label


def test_cuda_template_points_render_and_the_tuner_reads_a_kernel_cu_folder(tmp_path):
    """The templates' #define points are valid C for their space (every point renders, a point
    outside it is refused), and a generated CUDA folder (kernel.cu) is a tuning target whose
    points are rendered by the tuner's #define rewrite exactly as the expert renders them."""
    from harness.generate.templates import cuda as templates
    from harness.generate.folder import KernelFolder as Target
    for f in ("simt_f32.cu", "mma_sync_f16.cu"):
        pts = templates.points(f)
        assert len(pts) >= 16 and pts[0] == templates.space(f).defaults and len({json.dumps(p) for p in pts}) == len(pts)
        for p in pts:
            src = templates.render(f, p)
            assert all(f"#define {k} {v}\n" in src for k, v in p.items())
    with pytest.raises(ValueError):
        templates.render("mma_sync_f16.cu", {"WM": 4, "WN": 4})            # 16 warps: outside the space
    point = {"WM": 2, "WN": 2, "MI": 2, "NJ": 8, "BK": 64}
    (tmp_path / "kernel.cu").write_text(templates.render("mma_sync_f16.cu"))
    (tmp_path / "meta.json").write_text(json.dumps({"device": "h100", "shape": [256, 256, 256], "op": "gemm",
                                                    "dtype": "f16", "generator": "expert", "primitive_set": "cuda"}))
    (tmp_path / "params.json").write_text(json.dumps({"values": {"WM": 2, "WN": 4, "MI": 4, "NJ": 4, "BK": 32},
                                                      "space": templates.space("mma_sync_f16.cu").to_json()}))
    t = Target.load(tmp_path)
    assert t.kernel_file == "kernel.cu" and t.op.dtype == "f16" and set(t.space.params) == set(point)
    assert t.render(point) == templates.render("mma_sync_f16.cu", point)


@no_gpu_here
def test_generate_without_a_gpu_fails_clearly_with_the_compile_only_report(lab):
    yaml = str(lab.devices["gpu90"].source)
    p = subprocess.run([sys.executable, "-m", "harness", "generate", "128x128x128 f16 GEMM on gpu90",
                        "--devices-file", yaml, "--json", "--rounds", "2"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 1
    rec = json.loads(p.stdout.splitlines()[-1])
    assert rec["device"] == "gpu90" and not rec["ok"] and "gpu90: CUDA is not available" in rec["error"]
    assert "SSH device" in rec["error"]
    report = "\n".join(rec["report"])
    assert "expert-cuda-wgmma_f16-BN256-STAGES4-BMN1-GROUP_M16: ok" in report and "HGMMA.64x256x16.F32" in report, report
    assert "expert-cuda-mma_sync_f16-WM2-WN4-MI4-NJ4-BK32: ok" in report and "HMMA.16816.F32" in report, report
    q = subprocess.run([sys.executable, "-m", "harness", "generate", "128x128x128 f16 GEMM on gpu80",
                        "--devices-file", yaml, "--build-only", "--rounds", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert q.returncode == 0, q.stdout + q.stderr
    assert "registers" in q.stdout and "tensor-core" in q.stdout and "occupancy" in q.stdout


# ---- what the first run on a GPU (H200) showed, kept testable without one ---------------------
def test_a_versioned_vendor_library_goes_to_the_host_linker():
    """nvcc refuses `libcudnn.so.9` on its command line ("Don't know what to do with"): the
    cuDNN-paired conv build failed to link on the H200 machine, whose cuDNN is a pip wheel's."""
    from harness.backends.cuda.build import _link_arg
    assert _link_arg("/x/lib/libcudnn.so.9") == ["-Xlinker", "/x/lib/libcudnn.so.9"]
    assert _link_arg("/x/lib64/libcublas.so.13.0.2") == ["-Xlinker", "/x/lib64/libcublas.so.13.0.2"]
    assert _link_arg("/x/lib64/libcublas.so") == ["/x/lib64/libcublas.so"]


def _needed(exe: Path) -> list[str]:
    from elftools.elf.elffile import ELFFile
    with exe.open("rb") as f:
        dyn = ELFFile(f).get_section_by_name(".dynamic")
        return [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]


def test_tma_kernel_links_the_driver_library_through_a_stub(lab):
    """wgmma_f16.cu encodes TMA descriptors with cuTensorMapEncodeTiled (the NVIDIA driver's
    libcuda.so.1, absent here): the link uses a stub, the executable needs libcuda.so.1, and a run
    here is the machine's device_error naming that library, never the kernel's fault."""
    from harness.backends.cuda.build import build_cuda
    dev = lab.devices["gpu90"]
    b = build_cuda((KERNELS / "wgmma_f16.cu").read_bytes(), "wgmma_f16.cu", dev, lab.toolchain(dev), lab.ws.builds)
    assert b.ok, b.result.error
    assert "links libcuda.so.1 (the NVIDIA driver) for cuTensorMapEncodeTiled" in b.result.log
    assert "libcuda.so.1" in _needed(b.result.artifact.executable)
    assert not any("libcuda" in str(p) for p in b.result.artifact.runtime_libs)       # the stub is never shipped
    plain = build_cuda((KERNELS / "simt_f32.cu").read_bytes(), "simt_f32.cu", dev, lab.toolchain(dev), lab.ws.builds)
    assert plain.ok and "libcuda.so.1" not in _needed(plain.result.artifact.executable)
    kinds = {k for f in b.report.functions for k in f.tensor_ops}
    assert b.report.tensor_instructions > 0 and kinds and all(k.startswith("HGMMA") for k in kinds), kinds
    if not HAS_GPU:
        t = _trial(lab, "gpu90", KERNELS / "wgmma_f16.cu", get_op("gemm", "f16"))
        assert t.status is Status.DEVICE_ERROR and "gpu90: CUDA is not available: libcuda.so.1" in t.error, t.error


@needs_cuda_tools
def test_the_wgmma_family_is_planned_on_sm_90a_only():
    from harness.generate.templates.cuda import plan
    assert plan("gemm", "f16", "sm_90a", 1)[0][2]["kernel_file"] == "wgmma_f16.cu"
    assert all(p["kernel_file"] != "wgmma_f16.cu" for _, _, p in plan("gemm", "f16", "sm_80", 40))
    assert all(p["kernel_file"] != "wgmma_f16.cu" for _, _, p in plan("gemm", "f16", "sm_100a", 40))


def test_driver_failure_records_stay_json_when_the_error_is_infinite(tmp_path):
    """A kernel that changed its inputs fails with an infinite relative error; the CUDA driver
    printed it as `inf`, which is no JSON, and the harness called the run `rejected` ("result
    channel line 1 is not a JSON record") instead of the kernel's wrong_answer. Both drivers now
    print such a number as null (json_double in tensorop_driver_common.h)."""
    src = tmp_path / "j.c"
    src.write_text('#include "tensorop_driver_common.h"\nint main(void){char b[32];'
                   'printf("[%s,%s,%s]\\n", json_double(INFINITY, b), json_double(NAN, b + 0), "0");'
                   'printf("%s\\n", json_double(1.5e-7, b)); return 0;}\n')
    exe = tmp_path / "j"
    p = subprocess.run(["cc", "-O1", f"-I{DRIVER_DIR}", str(src), "-o", str(exe), "-lm"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True).stdout.splitlines()
    assert json.loads(out[0]) == [None, None, 0] and json.loads(out[1]) == pytest.approx(1.5e-7)
    for driver in ("tensorop_cuda_driver.h", "driver_modes.h"):
        text = (DRIVER_DIR / driver).read_text()
        body = text[text.index("static void emit_failure"):]
        body = body[:body.index("\n}\n")]
        assert "json_double(v->rel_err" in body and "%.6e" not in body, driver


def test_the_sandbox_resolves_links_through_etc_alternatives(tmp_path):
    """On the H200 machine /usr/local/cuda is a link to /etc/alternatives/cuda: nvcc was `No such
    file` inside bwrap until /etc/alternatives was readable there."""
    from harness.sandbox.bubblewrap import SandboxUnavailable, sandbox_prefix
    links = [p for p in (Path("/usr/bin/cc"), Path("/usr/bin/c++"), Path("/usr/bin/awk"), Path("/usr/bin/pager"))
             if p.is_symlink() and str(Path(p).readlink()).startswith("/etc/alternatives/")]
    if not links:
        pytest.skip("no command here is a link through /etc/alternatives")
    try:
        prefix = sandbox_prefix(tmp_path)
    except SandboxUnavailable as e:
        pytest.skip(str(e))
    p = subprocess.run([*prefix, "test", "-x", str(links[0])], capture_output=True, text=True)
    assert p.returncode == 0, (links[0], p.stderr)
