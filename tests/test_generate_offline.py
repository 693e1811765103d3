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
from harness.generate.templates.cpu_gemm import SETS
from harness.generate.templates.registry import render
from harness.core.space import ParamSpace, SpaceError

from conftest import requires_qemu


def test_prompt_parsing(lab):
    d = lab.devices
    t = parse_prompt("Generate a 1024x1024x1024 GEMM code on RISC-V", d)
    assert (t.op, t.shape, t.dtype, t.devices) == ("gemm", (1024, 1024, 1024), "f32", ("rv64-qemu",))
    with pytest.raises(PromptError, match="XTheadVector"):      # the paper's C910 is RVV 0.7.1: no stand-in
        parse_prompt("Generate a 1024x1024x1024 GEMM code on RISC-V C910", d)
    assert parse_prompt("512x512x512 sgemm on the RISC-V", d).devices == ("rv64-qemu",)
    assert parse_prompt("M=64, N=32, K=16 matmul on an arm64 board", d).shape == (64, 32, 16)
    assert parse_prompt(DEFAULT_PROMPT, d).devices == ("host", "rv64-qemu", "arm64-qemu")
    with pytest.raises(PromptError, match="known devices: host"):
        parse_prompt("gemm 64x64x64 on a Cray-1", d)
    assert parse_prompt("hgemm 64x64x64 fp16 on host", d).dtype == "f16"
    with pytest.raises(PromptError, match="not supported"):
        parse_prompt("dgemm 64x64x64 double on host", d)


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


def _sysfs_l1d() -> int | None:
    """The host's L1 data cache size, read independently of harness.backends.cpu.probe."""
    from pathlib import Path
    for idx in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (idx / "level").read_text().strip() == "1" and (idx / "type").read_text().strip() == "Data":
                size = (idx / "size").read_text().strip()
                return int(size[:-1]) * 1024 if size.endswith("K") else int(size)
        except OSError:
            pass
    return None


def host_primitive_set() -> str:
    """The set the host should get, worked out here from its cpuinfo flags (not by choose_sets)."""
    from harness.config.devices import native_arch
    from harness.backends.cpu.probe import host_cpu_flags
    f, arch = host_cpu_flags(), native_arch()
    if arch == "x86_64":
        return "avx512" if "avx512f" in f else "avx2" if {"avx2", "fma"} <= f else "scalar"
    if arch == "aarch64":
        return "sve" if "sve" in f else "neon"
    return "rvv" if arch == "riscv64" and "v" in f else "scalar"


def test_comprehension_without_probe_probes_nothing(lab, monkeypatch):
    import harness.backends.cpu.probe as probe
    monkeypatch.setattr(probe, "probe", lambda *a, **k: pytest.fail("comprehend(run_probe=False) probed"))
    hw = comprehend(lab, lab.device("host"), run_probe=False)
    assert hw.source.startswith("devices.yaml") and hw.caches == {}     # unknown, and said so
    assert "Caches: unknown" in hw.summary()
    assert not lab.ws.profiles.exists() or not any(lab.ws.profiles.iterdir())


def test_hardware_comprehension_probed_host(lab):
    hw = comprehend(lab, lab.device("host"))
    assert hw.source.startswith("probe")
    assert hw.primitive_set == host_primitive_set()
    l1d = _sysfs_l1d()
    if l1d is not None:
        assert hw.caches["l1d"] == l1d and hw.cache_line > 0
    assert "Primitive set" in hw.summary()
    # cached per configuration in the test's own profiles folder, never the repo's .cache
    assert [p.name.startswith("host-") for p in lab.ws.profiles.iterdir()] == [True]
    assert not str(lab.ws.profiles).startswith(str(lab.ws.cache))


def test_choose_sets_and_hints():
    assert choose_sets("x86_64", {"avx2", "fma"}) == ("avx2", ("scalar",))
    assert choose_sets("x86_64", set()) == ("scalar", ())
    assert choose_sets("aarch64", {"sve256"})[0] == "sve"
    assert all(hints_for("rvv")[k] for k in ("tiling", "registers", "instructions"))
    assert "conv2d" not in hints_for("avx512") and "im2col" in " ".join(hints_for("avx512", "conv2d")["conv2d"])


@requires_qemu
def test_vector_length_probe_and_vlen128(lab):
    hw = comprehend(lab, lab.device("rv64-qemu-vlen128"))
    assert hw.primitive_set == "rvv" and hw.vector_bits == 128 and hw.source.startswith("probe")
    # editing the runner's vlen (and nothing else) invalidates the cached profile: no --refresh needed
    import yaml
    from harness.config.lab import Lab
    p = lab.ws.devices_file
    data = yaml.safe_load(p.read_text())
    dev = data["devices"]["rv64-qemu-vlen128"]
    dev["runner"] = [a.replace("vlen=128", "vlen=512") for a in dev["runner"]]
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    lab2 = Lab.load(lab.ws)
    assert comprehend(lab2, lab2.device("rv64-qemu-vlen128")).vector_bits == 512
    assert len(list(lab.ws.profiles.glob("rv64-qemu-vlen128-*.json"))) == 1    # the stale one is gone


@requires_qemu
def test_generate_offline_end_to_end(workspace):
    """The CLI, no endpoint configured: expert generator on all three default devices."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    p = subprocess.run([sys.executable, "-m", "harness", "generate",
                        "Generate a 96x80x72 GEMM on host, rv64-qemu and arm64-qemu", "--rounds", "2", "--tune-budget", "2",
                        "--max-time", "0.2", "--min-samples", "3", "--max-samples", "5", "--search-max-time", "0.2"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "tensorop generate" in p.stdout
    for dev, want in (("host", host_primitive_set()), ("rv64-qemu", "rvv"), ("arm64-qemu", "sve")):
        folder = workspace.generated / dev / "gemm_96x80x72_f32"
        src = (folder / "kernel.c").read_text()
        assert "void tensorop_gemm_f32(int M, int N, int K" in src
        meta = json.loads((folder / "meta.json").read_text())
        params = json.loads((folder / "params.json").read_text())
        assert meta["generator"] == "expert" and meta["measured"]["status"] == "ok"
        assert meta["primitive_set"] == want and params["values"]["MR"] >= 1
        assert meta["openblas"]["status"] == "ok" and meta["vs_openblas"]["ratio"] > 0
        if dev != "host":      # emulated: the one objective is modelled cycles (deterministic, no CI)
            assert meta["ratio_basis"] == "modelled_cycles" and meta["measured"]["cycles"] > 0
            assert meta["vs_openblas"]["ratio"] == meta["openblas"]["cycles"] / meta["measured"]["cycles"]
        else:                  # real: a paired, interleaved comparison with its CI
            v = meta["vs_openblas"]
            assert v["metric"] == "time" and v["ratio_ci95"][0] <= v["ratio"] <= v["ratio_ci95"][1]


def test_expert_plan_prefers_primary_set(lab):
    hw = comprehend(lab, lab.device("arm64-qemu"), run_probe=False)
    plan = ExpertGenerator(points=4).plan(hw, 4)
    assert [s for s, _ in plan] == ["sve", "sve", "sve", "neon"]


@pytest.mark.parametrize("l2_kib, nc", [(2048, 1024), (1280, 1024), (1024, 512), (512, 256)])
def test_expert_first_x86_point_sizes_its_b_block_to_the_l2(l2_kib, nc):
    """The AVX-512 expert starts from ORDER 1 (A's panel in L1, B's KC x NC block streamed from
    the L2) with NC the largest that keeps that block within two thirds of this device's L2, also
    where the L2 is smaller than the seed was written for; the ORDER 0 points follow."""
    from harness.generate.factors import HardwareFactors
    hw = HardwareFactors(device="x", arch="x86_64", primitive_set="avx512", vector_bits=512, vregs=32, lanes=16,
                         caches={"l1d": 48 << 10, "l2": l2_kib << 10})
    plan = ExpertGenerator(points=4).plan(hw, 4)
    (name, first), rest = plan[0], plan[1:]
    assert name == "avx512" and first["ORDER"] == 1 and first["NC"] == nc
    assert 3 * first["KC"] * first["NC"] * 4 <= 2 * (l2_kib << 10) < 3 * first["KC"] * 2 * first["NC"] * 4
    assert any(p.get("ORDER") == 0 for _, p in rest)
