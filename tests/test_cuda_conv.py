"""CUDA conv2d, compile-only (issue 11, parts 4-5): the conv ABI row of the CUDA builder, the conv
timing driver, the expert implicit-GEMM kernel, the cuDNN baseline and the object gate against a
kernel that calls cuDNN. Nothing here needs a GPU; what runs is the host side: the driver's input
generator (the same __host__ __device__ code its fill kernel runs) against NumPy.

nvcc/cuobjdump come from `make setup` or a CUDA install; the cuDNN/cuBLAS headers from setup's
header fetch (.cache/cuda-headers/). Without them the compiling tests skip with the reason."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from harness.config.toolchains import load_toolchains
from harness.backends.cuda import tools
from harness.ops import conv2d
from harness.core.records import Status
from harness.core.workspace import Workspace
from test_cuda import MISSING, builds, devices, needs_cuda_tools  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels" / "cuda"
DRIVER_DIR = ROOT / "harness" / "driver"
EXPERT = KERNELS / "conv2d_implicit_gemm_f32.cu"
TC = load_toolchains(ROOT / "toolchains")["cuda-nvcc"]
WS = Workspace(ROOT)


def _nvcc(*args, cwd=None):
    return subprocess.run([tools.nvcc(TC), *TC.cflags, *args], capture_output=True, text=True, env=TC.environ(),
                          cwd=cwd)


def _needed(exe: Path) -> list[str]:
    with exe.open("rb") as f:
        for sec in ELFFile(f).iter_sections():
            if isinstance(sec, DynamicSection):
                return [t.needed for t in sec.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
    return []


def _defined(exe: Path) -> set[str]:
    with exe.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return {s.name for s in symtab.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"} if symtab else set()


# ---- pure parts -------------------------------------------------------------------------------
def test_conv_abi_is_one_row_of_the_cuda_abi_table():
    from harness.backends.cuda.build import ABIS
    rows = {a.symbol: a for a in ABIS}
    conv = rows["tensorop_conv2d_f32_cuda"]
    assert (conv.op, conv.dtype, conv.driver, conv.defines) == ("conv2d", "f32", "cuda_conv2d_driver.cu", ())
    assert rows["tensorop_gemm_f16_cuda"].defines == ("-DTENSOROP_F16",)
    assert all(a.driver_source.is_file() for a in ABIS)
    header = (DRIVER_DIR / "tensorop_cuda.h").read_text()
    assert "void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad," in header


def test_cuda_baselines_table():
    from harness.backends.cuda.baselines import CUDA_BASELINES, cuda_baseline
    from harness.backends import BaselineUnavailable
    assert CUDA_BASELINES[("conv2d", "f32")].name == "cudnn" and CUDA_BASELINES[("gemm", "f32")].name == "cublas"
    assert all((ROOT / "baselines" / b.file).is_file() for b in CUDA_BASELINES.values())
    with pytest.raises(BaselineUnavailable, match="no CUDA baseline for gemm_batched"):
        cuda_baseline(WS, "gemm_batched", "f32")


def test_header_fetch_pins_and_members():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import fetch_cuda_headers as f
    finally:
        sys.path.pop(0)
    assert f.PINS[13]["cudnn"].startswith("nvidia-cudnn-cu13==") and f.PINS[13]["cublas"].startswith("nvidia-cublas==13.")
    keep = lambda lib, name: (m.group(1) if (m := f.MEMBERS[lib].match(name)) else None)   # noqa: E731
    assert keep("cublas", "nvidia/cu13/include/cublas_v2.h") == "include/cublas_v2.h"
    assert keep("cublas", "nvidia/cu13/lib/libcublasLt.so.13") is None          # 540 MB: never fetched
    assert keep("cudnn", "nvidia/cudnn/include/cudnn.h") == "include/cudnn.h"
    assert keep("cudnn", "nvidia/cudnn/lib/libcudnn.so.9") == "lib/libcudnn.so.9"
    assert keep("cudnn", "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9") is None
    assert f.main(["--dest", "x", "--libs", "cufft"]) == 2


# ---- the driver's inputs on the host against NumPy ----------------------------------------------
@pytest.fixture(scope="module")
def inputs_host(tmp_path_factory):
    if MISSING[:1] == ["nvcc"]:
        pytest.skip("nvcc not installed")
    out = tmp_path_factory.mktemp("inputs") / "conv_inputs_host"
    p = _nvcc("-gencode", "arch=compute_80,code=sm_80", f"-I{DRIVER_DIR}", str(ROOT / "tests" / "cuda" /
                                                                                "conv_inputs_host.cu"), "-o", str(out))
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("shape", [(1, 16, 28, 28, 16, 3, 3, 1, 1), *conv2d.AWKWARD])
def test_driver_inputs_match_numpy_bit_for_bit(inputs_host, tmp_path, shape):
    seed = secrets.randbits(64)                       # fresh every run
    case = conv2d.ConvCase(*shape, seed)
    out = tmp_path / "inputs.bin"
    p = subprocess.run([str(inputs_host), case.arg(), str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    guard = int(p.stdout.split("guard=")[1])
    x, w = conv2d.inputs(case)
    raw = np.fromfile(out, dtype=np.uint32)
    gx = raw[: x.size + 2 * guard]
    gw = raw[x.size + 2 * guard:]
    assert gw.size == w.size + 2 * guard
    for got, ref in ((gx, x), (gw, w)):
        assert np.array_equal(got[guard: guard + ref.size], ref.ravel().view(np.uint32)), f"seed {seed}"
        pad = np.concatenate([got[:guard], got[guard + ref.size:]])
        assert (pad == 0x7FC0BEEF).all()               # NaN guards around every input


# ---- compiling ----------------------------------------------------------------------------------
@needs_cuda_tools
@pytest.mark.parametrize("flags", [[], ["-DTENSOROP_PAIR"]])
def test_conv_driver_compiles(tmp_path, flags):
    p = _nvcc("-gencode", "arch=compute_90a,code=sm_90a", *flags, "-c", str(DRIVER_DIR / "cuda_conv2d_driver.cu"),
              "-o", str(tmp_path / "d.o"))
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr.lower(), p.stderr


@needs_cuda_tools
@pytest.mark.slow
def test_expert_kernel_report_has_no_spills():
    # unconfigured GPU names: the compile-only stand-ins for their SMs
    p = subprocess.run([sys.executable, "-m", "harness", "build", str(EXPERT), "--device", "H100", "--device",
                        "A100", "--json", "--strict"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["sm"] for r in recs] == ["sm_90a", "sm_80"]
    for r in recs:
        assert r["status"] == "ok" and r["op"] == "conv2d" and r["dtype"] == "f32"
        rep = r["report"]
        assert not rep["warnings"], rep["warnings"]
        fns = rep["functions"]
        assert len(fns) == 2                            # the two tile shapes
        for f in fns:
            assert f["spill_stores"] == 0 and f["spill_loads"] == 0 and f["stack"] == 0, f
            assert f["max_threads"] == 256 and f["fma_instructions"] > 100
            assert f["occupancy"]["blocks_per_sm"] >= 2, f         # the 128x128 tile keeps 2 blocks per SM
        assert rep["tensor_instructions"] == 0          # f32: FFMA, no TF32
    assert "compile-only for sm_90a" in p.stderr and "compile-only for sm_80" in p.stderr


@needs_cuda_tools
def test_expert_kernel_links_with_the_conv_driver(devices, builds):
    from harness.backends.cuda.build import build_cuda
    b = build_cuda(EXPERT.read_bytes(), EXPERT.name, devices[1]["h100"], TC, builds, link=True)
    assert b.ok, b.result.error
    assert (b.op, b.dtype, b.sm) == ("conv2d", "f32", "sm_90a")
    exe = b.result.artifact.executable
    names = _defined(exe)
    assert "tensorop_conv2d_f32_cuda" in names and "main" in names
    assert not any("tensorop_gemm" in n for n in names)     # the conv driver, not the GEMM one
    assert b"conv2d" in exe.read_bytes()


@needs_cuda_tools
def test_gate_rejects_a_conv_kernel_that_calls_cudnn(devices, builds):
    from harness.backends.cuda.build import build_cuda
    path = KERNELS / "faulty" / "cudnn_conv2d.cu"
    b = build_cuda(path.read_bytes(), path.name, devices[1]["h100"], TC, builds, link=False)
    assert b.result.status is Status.REJECTED and b.op == "conv2d"
    assert "`cudnnConvolutionForward` (a library" in b.result.error and "`cudnnCreate`" in b.result.error


def _baseline_or_skip(op: str, dtype: str, link: bool):
    from harness.backends import BaselineUnavailable
    from harness.backends.cuda.baselines import cuda_baseline
    try:
        return cuda_baseline(WS, op, dtype, link=link)
    except BaselineUnavailable as e:
        pytest.skip(str(e))


@needs_cuda_tools
def test_cudnn_baseline_compiles_and_links_with_the_conv_driver(devices, builds):
    from harness.backends.cuda.build import build_cuda
    bl = _baseline_or_skip("conv2d", "f32", link=False)
    p = _nvcc("-gencode", "arch=compute_90a,code=sm_90a", *bl.cflags, "-c", str(ROOT / "baselines" / bl.name),
              "-o", str(builds / "cudnn.o"))
    assert p.returncode == 0, p.stderr
    bl = _baseline_or_skip("conv2d", "f32", link=True)
    b = build_cuda(bl.source, bl.name, devices[1]["h100"], TC, builds, link=True, allow_blas=True, libs=bl.libs,
                   extra_cflags=bl.cflags)
    assert b.ok, b.result.error
    assert b.op == "conv2d"
    assert any(n.startswith("libcudnn.so") for n in _needed(b.result.artifact.executable))
    # the same object through the gate (no allow_blas) is rejected: the library calls are the reason
    g = build_cuda(bl.source, bl.name, devices[1]["h100"], TC, builds, link=False, extra_cflags=bl.cflags)
    assert g.result.status is Status.REJECTED and "cudnnConvolutionForward" in g.result.error
