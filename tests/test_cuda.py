"""CUDA, compile-only (issue 11, part 5): nothing here needs a GPU. nvcc, cuobjdump and nvdisasm
come from `make setup` (NVIDIA's PyPI wheels into .venv) or a CUDA install; without them the
compiling tests skip with the reason. The pure parts (occupancy, parsers, f16 inputs) always run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config.devices import load_devices
from harness.config.toolchains import load_toolchains
from harness.backends.cuda import tools
from harness.backends.cuda.arch import SM, limits, occupancy
from harness.backends.cuda.inspect import parse_nvinfo, parse_ptxas, parse_sass
from harness.core.records import Status

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels" / "cuda"
TOOLCHAINS = load_toolchains(ROOT / "toolchains")
TC = TOOLCHAINS["cuda-nvcc"]
MISSING = [t for t, found in (("nvcc", tools.nvcc(TC)), ("cuobjdump", tools.find_tool("cuobjdump", TC)),
                              ("nvdisasm", tools.find_tool("nvdisasm", TC))) if not found]
needs_cuda_tools = pytest.mark.skipif(bool(MISSING), reason=f"CUDA tools not installed ({', '.join(MISSING)}): "
                                      "`make setup` installs NVIDIA's wheels into .venv")

DEVICES_YAML = """
devices:
  host:
    arch: native
    toolchain: host-cc
  h100:
    arch: x86_64
    transport: ssh
    host: gpu-box.invalid
    toolchain: cuda-nvcc
    features: [cuda, sm_90a, tensor-cores]
  a100:
    arch: x86_64
    transport: ssh
    host: gpu-box.invalid
    toolchain: cuda-nvcc
    features: [cuda, sm_80, tensor-cores]
"""


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    p = tmp_path_factory.mktemp("cuda") / "devices.yaml"
    p.write_text(DEVICES_YAML)
    return p, load_devices(p)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return tmp_path_factory.mktemp("builds")


def _build(devices, builds, name: str, device: str = "h100", link: bool = False):
    from harness.backends.cuda.build import build_cuda
    path = KERNELS / name
    return build_cuda(path.read_bytes(), path.name, devices[1][device], TC, builds, link=link)


# ---- pure parts -------------------------------------------------------------------------------
def test_device_kind_and_sm(devices):
    devs = devices[1]
    assert devs["h100"].cuda and not devs["host"].cuda
    assert devs["h100"].sm == "sm_90a" and devs["a100"].sm == "sm_80"


def test_shipped_devices_yaml_keeps_gpu_examples_commented():
    text = (ROOT / "devices.yaml").read_text()
    assert "# h100:" in text and "# local-gpu:" in text
    assert not any(d.cuda for d in load_devices(ROOT / "devices.yaml").values())


def test_occupancy_matches_the_calculator():
    h = limits("sm_90a")
    # 126 registers x 256 threads: 4096 registers per warp -> 4 warps per sub-partition -> 2 blocks
    o = occupancy(h, 126, 256, 27136)
    assert (o.blocks_per_sm, o.occupancy, o.limiter) == (2, 0.25, "registers")
    o = occupancy(h, 32, 256, 0)
    assert o.blocks_per_sm == 8 and o.occupancy == 1.0
    # shared memory bound: 100 KiB static + 1 KiB reserved per block on a 228 KiB SM -> 2 blocks
    o = occupancy(h, 32, 128, 100 * 1024)
    assert (o.blocks_per_sm, o.limiter) == (2, "shared memory")
    assert occupancy(h, 32, 2048, 0).blocks_per_sm == 0
    assert occupancy(limits("sm_86"), 64, 256, 0).blocks_per_sm == 4     # 48 warps/SM, 64 regs: 32 warps
    assert all(limits(s) is not None for s in SM)


def test_parsers_on_tool_output():
    log = """ptxas info    : Compiling entry function '_Z1kPf' for 'sm_90a'
ptxas info    : Function properties for _Z1kPf
    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 8 bytes cumulative stack size, 4096 bytes smem
"""
    assert parse_ptxas(log)["_Z1kPf"] == {"stack": 8, "spill_stores": 12, "spill_loads": 16, "registers": 255,
                                          "barriers": 1, "static_smem": 4096}
    sass = """		Function : _Z1kPf
        /*0000*/                   LDC R1, c[0x0][0x28] ;
        /*0010*/              @!P0 HMMA.16816.F32 R4, R8, R12, R4 ;
        /*0020*/                   HFMA2.MMA R3, -RZ, RZ, 0, 0 ;
        /*0030*/                   HGMMA.64x128x16.F32 gdesc[UR4], RZ, !UPT ;
"""
    assert parse_sass(sass) == {"_Z1kPf": ["LDC", "HMMA.16816.F32", "HFMA2.MMA", "HGMMA.64x128x16.F32"]}
    info = """.nv.info._Z1kPf
	<0x7>
	Attribute:	EIATTR_EXTERNS
	Format:	EIFMT_SVAL
	Value:	externs:	vprintf(0x11)	malloc(0x12)
	<0x11>
	Attribute:	EIATTR_MAX_THREADS
	Format:	EIFMT_SVAL
	Value:	0x80 0x1 0x1 
"""
    assert parse_nvinfo(info) == {"_Z1kPf": {"max_threads": 128, "externs": ["vprintf", "malloc"]}}


def test_f16_inputs_are_the_f32_inputs_rounded():
    from harness.backends.cuda.gemm16 import matrix_f16
    from harness.ops.gemm import matrix
    a = matrix_f16(123, 0, 7, 5)
    assert a.dtype == np.float16 and np.array_equal(a, matrix(123, 0, 7, 5).astype(np.float16))


# ---- compiling (nvcc + cuobjdump) ---------------------------------------------------------------
@needs_cuda_tools
@pytest.mark.parametrize("name", ["wmma_f16.cu", "mma_sync_f16.cu"])
def test_tensor_core_kernels_hold_hmma(devices, builds, name):
    b = _build(devices, builds, name)
    assert b.ok, b.result.error
    assert b.dtype == "f16" and b.sm == "sm_90a"
    rep = b.report
    assert rep.sass and rep.tensor_instructions > 0, "a WMMA/mma.sync kernel's SASS holds no HMMA"
    f = rep.functions[0]
    assert any(op.startswith("HMMA") for op in f.tensor_ops)
    assert f.registers > 0 and f.static_smem > 0 and f.max_threads == 256
    assert f.occupancy is not None and 0 < f.occupancy.occupancy <= 1
    assert not any("tensor-core" in w for w in rep.warnings)


@needs_cuda_tools
def test_fma_only_f16_kernel_is_flagged(devices, builds):
    b = _build(devices, builds, "faulty/fma_only_f16.cu")
    assert b.ok, b.result.error
    assert b.report.tensor_instructions == 0 and b.report.functions[0].fma_instructions > 0
    assert any("no tensor-core instructions in SASS" in w for w in b.report.warnings)


@needs_cuda_tools
def test_f32_simt_kernel_builds_and_links_with_the_driver(devices, builds):
    b = _build(devices, builds, "simt_f32.cu", device="a100", link=True)
    assert b.ok, b.result.error
    assert b.dtype == "f32" and b.sm == "sm_80"
    assert b.result.artifact is not None and b.result.artifact.executable.is_file()
    assert not any("tensor-core" in w for w in b.report.warnings)   # f32: FFMA expected, noted not warned


@needs_cuda_tools
def test_device_gate_rejects_printf_malloc_assert(devices, builds):
    b = _build(devices, builds, "faulty/device_printf.cu")
    assert b.result.status is Status.REJECTED
    for name in ("vprintf", "malloc", "free", "__assertfail"):
        assert f"`{name}`" in b.result.error


@needs_cuda_tools
def test_host_gate_rejects_streams_sync_and_extern_c_kernels(devices, builds):
    b = _build(devices, builds, "faulty/host_side_effects.cu")
    assert b.result.status is Status.REJECTED
    assert "cudaStreamCreate" in b.result.error and "cudaDeviceSynchronize" in b.result.error
    assert "extern \"C\" __global__" in b.result.error


@needs_cuda_tools
def test_compile_error_is_reported(devices, builds, tmp_path):
    from harness.backends.cuda.build import build_cuda
    b = build_cuda(b"extern \"C\" void tensorop_gemm_f32_cuda( {", "bad.cu", devices[1]["h100"], TC, builds, link=False)
    assert b.result.status is Status.COMPILE_ERROR and "error" in b.result.error.lower()


@needs_cuda_tools
@pytest.mark.parametrize("flags", [[], ["-DTENSOROP_F16"], ["-DTENSOROP_PAIR"], ["-DTENSOROP_F16", "-DTENSOROP_PAIR"]])
def test_timing_driver_compiles(tmp_path, flags):
    nvcc = tools.nvcc(TC)
    p = subprocess.run([nvcc, *TC.cflags, "-gencode", "arch=compute_80,code=sm_80", *flags, "-c",
                        str(ROOT / "harness" / "driver" / "cuda_gemm_driver.cu"), "-o", str(tmp_path / "d.o")],
                       capture_output=True, text=True, env=TC.environ())
    assert p.returncode == 0, p.stderr


@needs_cuda_tools
def test_cli_build_and_bench_build_only(devices):
    cli = [sys.executable, "-m", "harness"]
    p = subprocess.run([*cli, "build", str(KERNELS / "wmma_f16.cu"), str(KERNELS / "faulty" / "fma_only_f16.cu"),
                        "--device", "h100", "--devices-file", str(devices[0]), "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    assert recs[0]["report"]["tensor_instructions"] > 0
    assert any("no tensor-core" in w for w in recs[1]["report"]["warnings"])
    strict = subprocess.run([*cli, "build", str(KERNELS / "faulty" / "fma_only_f16.cu"), "--device", "h100",
                             "--devices-file", str(devices[0]), "--strict"], capture_output=True, text=True, cwd=ROOT)
    assert strict.returncode == 1 and "no tensor-core instructions in SASS" in strict.stdout
    q = subprocess.run([*cli, "bench", "--build-only", str(KERNELS / "simt_f32.cu"), "--device", "H100"],
                       capture_output=True, text=True, cwd=ROOT)   # unconfigured GPU name: compile-only stand-in
    assert q.returncode == 0, q.stdout + q.stderr
    assert "compile-only for sm_90a" in q.stderr and "registers" in q.stdout and "occupancy" in q.stdout


def test_cuda_prompt_section_names_the_primitives():
    from harness.generate.cuda_prompts import prompt_section
    text = prompt_section("sm_90a")
    assert "mma.sync" in text and "wgmma" in text and "tensorop_gemm_f16_cuda" in text
    assert "wgmma" not in prompt_section("sm_80").split("Hints:")[0]


@needs_cuda_tools
@pytest.mark.parametrize("flags", [[], ["-DTENSOROP_F16"]])
def test_cublas_baseline_compiles(tmp_path, flags):
    from harness.core.workspace import Workspace
    nvcc = tools.nvcc(TC)
    include = tools.library_include("cublas", Workspace(ROOT).cache)   # a CUDA install, the wheel, or setup's fetch
    if include is None:
        pytest.skip("cuBLAS headers not found: " + tools.HEADERS_HINT)
    p = subprocess.run([nvcc, *TC.cflags, "-gencode", "arch=compute_80,code=sm_80", *flags, f"-I{include}", "-c",
                        str(ROOT / "baselines" / "cublas_gemm.cu"), "-o", str(tmp_path / "b.o")],
                       capture_output=True, text=True, env=TC.environ())
    assert p.returncode == 0, p.stderr
