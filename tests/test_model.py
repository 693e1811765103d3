"""Modelled cycles (harness/measure/model/): the QEMU plugin's fd= record and blocks= profile, RVV vtype
tracking, llvm-mca modelling, the validate command, and the devices.yaml fields. Real QEMU and
real llvm-mca; every case runs in a few seconds."""
from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path

import pytest

from harness.backends.cpu.probe import host_cpu_flags
from harness.backends.cpu.build import BuildRequest, build
from harness.config.yamlfile import ConfigError
from harness.config.devices import load_devices
from harness.measure.model import mca, model_from_blocks, parse_blocks
from harness.measure.model.run import profile_artifact

from conftest import EXAMPLES, REPO, requires_qemu, write_devices

requires_mca = pytest.mark.skipif(not (mca.find_tool("llvm-mca") and mca.find_tool("llvm-mc")),
                                  reason="llvm-mca/llvm-mc (llvm-19) not installed")
VALIDATION = REPO / "kernels" / "validation"


def _build(lab, device, source: bytes, name="k.c"):
    d = lab.device(device)
    b = build(BuildRequest(source=source, toolchain=lab.toolchain(d), name=name), lab.ws.builds)
    assert b.artifact, b.log
    return d, b.artifact


@requires_qemu
@pytest.mark.parametrize("device,kernel", [("rv64-qemu", "gemm_rvv.c"), ("arm64-qemu", "gemm_sve.c")])
def test_plugin_fd_record_and_blocks(lab, device, kernel):
    d, art = _build(lab, device, (EXAMPLES / kernel).read_bytes(), kernel)
    run = profile_artifact(lab.ws, d, art, (16, 24, 8))
    assert run.ok, run.error
    rec = run.record
    assert rec["tensorop"] == "plugin" and rec["regions"] == 1 and rec["insns"] == rec["insns_last"] > 0
    prof = parse_blocks(run.blocks)
    assert prof.regions == 1 and prof.insns == rec["insns"]
    assert prof.block_insns == rec["insns"]          # the profile accounts for every counted insn
    assert all(b.code and b.count > 0 for b in prof.blocks)
    states = {b.vstate for b in prof.blocks}
    if device.startswith("rv64"):
        assert any(re.fullmatch(r"e32m\d", s) for s in states), states
    else:
        assert states == {"-"}


RVV_LMUL = r"""
#include <riscv_vector.h>
/* the same work at LMUL {L}: ikj GEMM, the j loop in RVV vectors of LMUL {L} */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{{
    for (int i = 0; i < M; i++) {{
        for (int j = 0; j < N; j++) C[(long)i * ldc + j] = 0.0f;
        for (int k = 0; k < K; k++) {{
            float a = A[(long)i * lda + k];
            for (int j = 0; j < N;) {{
                size_t vl = __riscv_vsetvl_e32m{L}(N - j);
                vfloat32m{L}_t c = __riscv_vle32_v_f32m{L}(C + (long)i * ldc + j, vl);
                vfloat32m{L}_t b = __riscv_vle32_v_f32m{L}(B + (long)k * ldb + j, vl);
                __riscv_vse32_v_f32m{L}(C + (long)i * ldc + j, __riscv_vfmacc_vf_f32m{L}(c, a, b, vl), vl);
                j += vl;
            }}
        }}
    }}
}}
"""


@requires_qemu
@requires_mca
def test_vtype_tracking_lmul1_vs_lmul8(lab):
    res = {}
    for L in (1, 8):
        # VLEN 512, the X280 model's own: per-op costs exactly as llvm-mca has them (no rescaling)
        d, art = _build(lab, "rv64-qemu-vlen512", RVV_LMUL.format(L=L).encode(), f"lmul{L}.c")
        run = profile_artifact(lab.ws, d, art, (8, 256, 16))
        assert run.ok, run.error
        prof = parse_blocks(run.blocks)
        hot = max(prof.blocks, key=lambda b: b.insns)
        assert hot.vstate == f"e32m{L}", hot
        m = model_from_blocks(run.blocks, run.regions, d)
        assert m.ok and m.coverage > 0.99 and m.vstate_unknown == 0.0, m
        res[L] = m
    insn_ratio = res[1].insns_per_call / res[8].insns_per_call
    cycle_ratio = res[1].cycles_per_call / res[8].cycles_per_call
    hot1, hot8 = res[1].top_blocks[0], res[8].top_blocks[0]
    # same loop body (same instruction count) at both LMULs: counting instructions charges both
    # alike, the model charges the LMUL-8 body more (each op occupies the vector unit longer)
    assert hot1["n_insns"] == hot8["n_insns"]
    assert hot8["cycles_per_exec"] > 1.4 * hot1["cycles_per_exec"], (hot1, hot8)
    # so the modelled advantage of LMUL 8 is smaller than the instruction-count advantage
    assert insn_ratio > 3, insn_ratio
    assert cycle_ratio < insn_ratio, (cycle_ratio, insn_ratio)


@requires_qemu
@requires_mca
def test_model_is_deterministic(lab, tmp_path):
    d, art = _build(lab, "rv64-qemu", (EXAMPLES / "gemm_rvv.c").read_bytes(), "gemm_rvv.c")
    run = profile_artifact(lab.ws, d, art, (16, 16, 16))
    assert run.ok, run.error
    a = model_from_blocks(run.blocks, run.regions, d, cache_dir=None)
    b = model_from_blocks(run.blocks.encode(), run.regions, d, cache_dir=tmp_path / "mca")
    c = model_from_blocks(run.blocks, run.regions, d, cache_dir=tmp_path / "mca")   # from the cache
    assert a.ok and a.cycles_per_call > 0
    assert a.cycles_per_call == b.cycles_per_call == c.cycles_per_call
    assert "sifive-x280 (LLVM " in a.model
    assert a.gflops(2 * 16 ** 3, 1.6) > 0
    # a second profile of the same binary and inputs gives the same figure
    run2 = profile_artifact(lab.ws, d, art, (16, 16, 16))
    assert model_from_blocks(run2.blocks, run2.regions, d, cache_dir=None).cycles_per_call == a.cycles_per_call


@requires_mca
def test_what_the_model_cannot_see_costs_the_worst_case_and_missing_tools_are_an_error_value(lab, monkeypatch):
    """A block llvm-mc cannot decode (or not into the instructions that ran) is charged the core's
    worst instruction for each of its instructions, never a cheap guess; an unknown RVV vector
    state is costed at the worst state (LMUL 8) and no cheaper than the known one."""
    d = lab.device("rv64-qemu")
    core = mca.core_model(d)
    worst = mca.worst_cpi(core, None)
    assert worst >= mca.FLOOR_WORST_CPI
    text = ("# tensorop-blocks v1 arch=riscv64 regions=2 insns=60\n"
            "1000 e32m8 10 2 1305150013051500\n"     # addi a0,a0,1 twice
            "2000 e32m8 10 4 ffffffffffffffffffffffffffffffff\n")
    m = model_from_blocks(text, 2, d, cache_dir=None)
    assert m.ok and m.insns_per_call == 30
    assert m.coverage == pytest.approx(20 / 60)
    assert m.cycles_per_call >= 10 * 4 * worst / 2    # the bad block: every instruction at the worst cost
    # a claimed instruction count that does not match the bytes makes the block undecodable too
    lying = ("# tensorop-blocks v1 arch=riscv64 regions=1 insns=3\n"
             "1000 e32m8 1 3 1305150013051500\n")    # two addi claimed as three instructions
    assert model_from_blocks(lying, 1, d, cache_dir=None).cycles_per_call >= 3 * worst
    # vfmacc.vv v8, v16, v24 in a known (e32m1) and an unknown vector state
    known = "# tensorop-blocks v1 arch=riscv64 regions=1 insns=1\n1000 e32m1 1 1 57148cb2\n"
    unknown = known.replace("e32m1", "unknown")
    eight = known.replace("e32m1", "e32m8")
    c1, cu, c8 = (model_from_blocks(t, 1, d, cache_dir=None).cycles_per_call for t in (known, unknown, eight))
    assert cu >= c8 > c1, (c1, c8, cu)
    assert model_from_blocks("garbage line", 1, d).error.startswith("bad block profile")
    assert model_from_blocks(text, 0, d).error
    monkeypatch.setattr(mca, "find_tool", lambda name: None)
    r = model_from_blocks(text, 2, d, cache_dir=None)
    assert r.cycles_per_call is None and "llvm-mca" in r.error and not r.ok


@requires_mca
def test_a_profile_must_agree_with_the_plugin_and_the_program():
    from harness.measure.model.profile import check_code, check_profile
    prof = parse_blocks("# tensorop-blocks v1 arch=riscv64 regions=1 insns=4\n1000 - 2 2 1305150013051500\n")
    assert check_profile(prof, {"regions": 1, "insns": 4}) == ""
    assert "regions" in check_profile(prof, {"regions": 2, "insns": 4})
    assert "4" in check_profile(prof, {"regions": 1, "insns": 5})
    program = [(0x1000, bytes.fromhex("1305150013051500") + b"\0" * 8)]
    assert check_code(prof, program) == ""
    assert "0x1000" in check_code(prof, [(0x1000, bytes.fromhex("9305150013051500"))])
    assert check_code(prof, [(0x8000, b"\0" * 16)]) == ""      # outside the program: a library's block


def _avx2_host() -> bool:
    return {"avx2", "fma"} <= host_cpu_flags()


@requires_mca
@pytest.mark.skipif(not (shutil.which("qemu-x86_64") and _avx2_host()), reason="needs qemu-x86_64 and an AVX2 host")
@pytest.mark.parametrize("paired,repeats", [("0", "1"), ("0.3", "2")])
def test_validate_json_three_kernels(workspace, paired, repeats):
    from typer.testing import CliRunner
    from harness.apps.cli import app
    ks = [str(VALIDATION / k) for k in ("naive_ijk.c", "loop_ikj.c", "avx2_expert.c")]
    r = CliRunner().invoke(app, ["model", "validate", *ks, "--shape", "32x32x32", "--json", "--max-time", "0.2",
                                 "--paired", paired, "--repeats", repeats])
    lines = [json.loads(l) for l in r.output.strip().splitlines() if l.startswith("{")]
    rows, summary = lines[:-1], lines[-1]["summary"]
    assert [Path(x["kernel"]).name for x in rows] == ["naive_ijk.c", "loop_ikj.c", "avx2_expert.c"]
    for x in rows:
        assert x["status"] == "ok", (x["status"], x["error"])
        assert x["measured_s"] > 0 and x["cycles"] > 0 and x["implied_ghz"] > 0
    assert summary["n"] == 3 and -1 <= summary["spearman_rho"] <= 1
    if paired != "0":   # each kernel in OpenBLAS's unit: its median over the paired ratio
        for x in rows:
            assert x["vs_openblas"] > 0 and x["measured_unpaired_s"] > 0
            # --repeats: one paired run per repeat, each its own ratio; the median of them counts
            assert len(x["vs_openblas_runs"]) == int(repeats)
            assert x["vs_openblas"] == pytest.approx(statistics.median(x["vs_openblas_runs"]))
        assert rows[0]["vs_openblas"] < rows[2]["vs_openblas"]     # the naive loop is slower than the packed one
    assert r.exit_code == 0


@pytest.mark.parametrize("body,field", [
    ("    core_model: sifive x280\n    clock_ghz: 1.6\n", "core_model"),
    ("    core_model: sifive-x280\n", "core_model"),
    ("    core_model: sifive-x280\n    clock_ghz: -1\n", "clock_ghz"),
    ("    core_model: neoverse-v1\n    clock_ghz: 2\n    mca_attr: sve\n", "mca_attr"),
])
def test_devices_model_fields_validated(workspace, body, field):
    text = ("devices:\n  emu:\n    arch: riscv64\n    toolchain: riscv64-clang\n    emulated: true\n" + body)
    p = write_devices(workspace, text)
    with pytest.raises(ConfigError) as e:
        load_devices(p)
    msg = str(e.value)
    assert re.search(r"devices\.yaml:\d+:", msg) and field in msg, msg


def test_shipped_devices_have_models(lab):
    for name in ("rv64-qemu", "rv64-qemu-vlen128", "rv64-qemu-vlen512", "arm64-qemu", "a76-qemu", "x86-qemu"):
        d = lab.device(name)
        assert d.emulated and d.core_model and d.clock_ghz > 0
