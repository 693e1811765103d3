"""Offline `tensorop generate` (the embedded expert generator) end to end on host, rv64-qemu
and arm64-qemu, plus the prompt parser, the parameter space and hardware comprehension."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.generate.expert import ExpertGenerator
from harness.generate.hardware import choose_sets, comprehend, hints_for
from harness.generate.prompt import DEFAULT_PROMPT, PromptError, parse_prompt
from harness.generate.templates import SETS, render
from harness.tune.space import ParamSpace, SpaceError

from conftest import requires_qemu


def test_prompt_parsing(lab):
    d = lab.devices
    t = parse_prompt("Generate a 1024x1024x1024 GEMM code on RISC-V C910", d)
    assert (t.op, t.shape, t.dtype, t.devices) == ("gemm", (1024, 1024, 1024), "f32", ("rv64-qemu",))
    assert parse_prompt("512x512x512 sgemm on the K1", d).devices == ("rv64-qemu",)
    assert parse_prompt("M=64, N=32, K=16 matmul on a Raspberry Pi 5", d).shape == (64, 32, 16)
    assert parse_prompt(DEFAULT_PROMPT, d).devices == ("host", "rv64-qemu", "arm64-qemu")
    with pytest.raises(PromptError, match="known devices: host"):
        parse_prompt("gemm 64x64x64 on a Cray-1", d)
    with pytest.raises(PromptError, match="not supported"):
        parse_prompt("hgemm 64x64x64 fp16 on host", d)


def test_param_space_and_templates():
    sp = SETS["rvv"].space
    ctx = {"vregs": 32, "lanes": 8, "l1d": 32768, "l2": 524288}
    assert sp.valid({"MR": 3, "NV": 1, "LMUL": 8, "KC": 256, "MC": 120, "NC": 1024, "U": 1}, ctx)
    assert "(MR * NV + NV) * LMUL <= vregs" in sp.violations(
        {"MR": 4, "NV": 1, "LMUL": 8, "KC": 256, "MC": 120, "NC": 1024, "U": 1}, ctx)
    src = render("rvv", SETS["rvv"].seeds[0])
    back = ParamSpace.from_source(src)
    assert back.params == sp.params and back.defaults["MR"] == 3
    with pytest.raises(SpaceError):
        ParamSpace({"MR": [1]}, ["__import__('os')"])
    for name, ps in SETS.items():   # every seed is valid on its design hardware
        c = {"vregs": ps.vregs, "lanes": ps.lanes, "l1d": 48 << 10, "l2": 1 << 20}
        assert all(ps.space.valid(s, c) for s in ps.seeds), name


def test_hardware_comprehension(lab):
    hw = comprehend(lab, lab.device("host"), run_probe=False)
    assert hw.primitive_set in ("avx512", "avx2", "scalar", "neon", "sve", "rvv")
    assert "Primitive set" in hw.summary() and hw.caches.get("l1d")
    assert choose_sets("x86_64", {"avx2", "fma"}) == ("avx2", ("scalar",))
    assert choose_sets("x86_64", set()) == ("scalar", ())
    assert choose_sets("aarch64", {"sve256"})[0] == "sve"
    assert all(hints_for("rvv")[k] for k in ("tiling", "registers", "instructions"))


@requires_qemu
def test_vector_length_probe_and_vlen128(lab):
    hw = comprehend(lab, lab.device("rv64-qemu-vlen128"))
    assert hw.primitive_set == "rvv" and hw.vector_bits == 128


@requires_qemu
def test_generate_offline_end_to_end(workspace):
    """The CLI, no endpoint configured: expert generator on all three default devices."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    p = subprocess.run([sys.executable, "-m", "harness.cli", "generate",
                        "Generate a 96x80x72 GEMM on host, rv64-qemu and arm64-qemu", "--rounds", "2",
                        "--max-time", "0.2", "--min-samples", "3", "--max-samples", "5", "--search-max-time", "0.2"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "tensorop generate" in p.stdout
    for dev, sets in (("host", ("avx512", "avx2", "scalar")), ("rv64-qemu", ("rvv",)), ("arm64-qemu", ("sve", "neon"))):
        folder = workspace.generated / dev / "gemm_96x80x72_f32"
        src = (folder / "kernel.c").read_text()
        assert "void tensorop_gemm_f32(int M, int N, int K" in src
        meta = json.loads((folder / "meta.json").read_text())
        params = json.loads((folder / "params.json").read_text())
        assert meta["generator"] == "expert" and meta["measured"]["status"] == "ok"
        assert meta["primitive_set"] in sets and params["values"]["MR"] >= 1
        assert meta["openblas"]["status"] == "ok" and meta["vs_openblas"] > 0
        if dev != "host":
            assert meta["ratio_basis"] == "insns" and meta["measured"]["insns"] > 0


def test_expert_plan_prefers_primary_set(lab):
    hw = comprehend(lab, lab.device("arm64-qemu"), run_probe=False)
    plan = ExpertGenerator(points=4).plan(hw, 4)
    assert [s for s, _ in plan] == ["sve", "sve", "sve", "neon"]
