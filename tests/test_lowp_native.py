"""Native low-precision GEMM (harness/generate/templates/lowp.py) on the emulated ARM and RISC-V
devices: each set's kernels pass the gate (int8 exact, f16/bf16 at the f32 bound) at awkward
shapes (M = 1, K = 1, K not a multiple of the k-groups; the gate adds 67x43x131, 131x97x257 padded
and 3x5x2), the instruction is in the built object (disassembled, not searched for in the source),
the expert plan picks only what the device has, and the probe reads what the emulated CPU has."""
import dataclasses
import re
import subprocess

import pytest

from conftest import requires_qemu
from harness.backends.cpu.probe import host_cpu_flags
from harness.generate.templates import lowp as native_lowp
from harness.generate.expert import ExpertGenerator
from harness.generate.hardware import comprehend
from harness.core.measure_options import MeasureOptions
from harness.measure.model.mca import find_tool
from harness.ops import get_op
from harness.backends.cpu.probe import _reconcile_isa, HardwareProfile, probe
from harness.transport import get_transport
from harness.core.records import Kernel
from harness.measure.runner import build_kernel, run_trial

FAST = dict(max_time_s=0.1, min_samples=2, max_samples=3)
CASES = [("arm64-qemu", "neon-i8mm"), ("arm64-qemu", "neon-sdot"), ("arm64-qemu", "neon-bf16mmla"),
         ("arm64-qemu", "neon-fhm"), ("a76-qemu", "neon-sdot"), ("a76-qemu", "neon-f16cvt"),
         ("rv64-qemu", "rvv-i8")]


def trial(lab, device, source, shape, dtype):
    dev = lab.devices[device]
    with get_transport(dev, lab.ws) as tr:
        return run_trial(lab.ws, dev, lab.toolchain(dev), tr, Kernel("native", source.encode()), shape,
                         MeasureOptions.for_device(dev, **FAST), op=get_op("gemm", dtype))


def disassembly(lab, device, source, dtype) -> str:
    dev = lab.devices[device]
    b = build_kernel(lab.ws, lab.toolchain(dev), Kernel("native", source.encode()), op=get_op("gemm", dtype))
    assert b.status.value == "ok", b.log
    obj = b.artifact.executable.parent / "kernel.o"
    assert obj.is_file()
    objdump = find_tool("llvm-objdump")
    if not objdump:
        pytest.skip("llvm-objdump not installed")
    attr = "+v" if dev.arch == "riscv64" else "+all"
    return subprocess.run([objdump, "-d", f"--mattr={attr}", str(obj)], capture_output=True, text=True,
                          check=True).stdout


@requires_qemu
@pytest.mark.parametrize("device,name", CASES)
def test_native_kernels_pass_the_gate_with_their_instruction(lab, device, name):
    s = native_lowp.SETS[name]
    first, other = dict(s.seeds[0]), dict(s.seeds[-1])     # two tiles (and U; rvv-i8: both IW forms)
    assert name in native_lowp.available(s.dtype, lab.devices[device].arch, lab.devices[device].features)
    for p, shape in ((first, (1, 29, 1)), (other, (13, 35, 19))):
        t = trial(lab, device, native_lowp.render(name, p), shape, s.dtype)
        assert t.status.value == "ok", (p, shape, t.error)
        assert t.max_rel_err == 0.0 if s.dtype == "i8" else t.max_rel_err < 1e-5
        assert t.cycles and t.cycles > 0
    text = disassembly(lab, device, native_lowp.render(name, first), s.dtype)
    mnemonics = {m.split(".")[0] for m in re.findall(r"^\s*[0-9a-f]+:\s+(?:[0-9a-f]{2,8}\s+)+([a-z][a-z0-9.]*)", text, re.M)}
    assert s.mnemonic in mnemonics, (s.mnemonic, sorted(mnemonics))


@requires_qemu
def test_a_native_kernel_on_a_device_without_its_feature_is_a_crash(lab):
    """QEMU's cortex-a76 has no FEAT_I8MM: an SMMLA kernel dies there (SIGILL); hence the plan's gating."""
    src = native_lowp.render("neon-i8mm", dict(native_lowp.SETS["neon-i8mm"].seeds[0]))
    t = trial(lab, "a76-qemu", src, (8, 16, 16), "i8")
    assert t.status.value == "crash", (t.status, t.error)


@requires_qemu
def test_expert_plans_only_what_the_device_has(lab):
    def plan(device, dtype):
        hw = comprehend(lab, lab.devices[device], run_probe=False)
        return [ps for ps, _ in ExpertGenerator().plan(hw, 4, dtype)]

    assert plan("arm64-qemu", "i8")[:2] == ["neon-i8mm", "neon-i8mm"] and "neon-sdot" in plan("arm64-qemu", "i8")
    assert plan("arm64-qemu", "bf16")[0] == "neon-bf16mmla"
    assert plan("arm64-qemu", "f16")[0] == "neon-fhm"
    a76 = {d: plan("a76-qemu", d) for d in ("i8", "bf16", "f16")}
    assert a76["i8"][0] == "neon-sdot" and "neon-i8mm" not in a76["i8"]
    assert a76["bf16"] and set(a76["bf16"]) == {"neon"}                       # no FEAT_BF16: widening only
    assert a76["f16"][0] == "neon" and a76["f16"][-1] == "neon-f16cvt"       # FCVTL models slower: tried last
    assert plan("rv64-qemu", "i8")[0] == "rvv-i8" and set(plan("rv64-qemu", "f16")) == {"rvv"}
    assert all(s.startswith(("rvv", "neon", "sve")) for s in plan("arm64-qemu", "f32") + plan("rv64-qemu", "f32"))
    assert not any(s in native_lowp.SETS for s in plan("arm64-qemu", "f32"))


def test_cpuinfo_names_and_reconciled_features():
    f = native_lowp.canonical_features(["fp", "asimd", "asimddp", "asimdfhm", "i8mm", "bf16", "asimdhp"])
    assert {"dotprod", "fhm", "i8mm", "bf16", "fp16"} <= f
    assert native_lowp.available("i8", "aarch64", ["asimddp"]) == ["neon-sdot"]
    assert native_lowp.available("bf16", "aarch64", ["asimddp"]) == []
    prof = HardwareProfile("d", "aarch64", emulated=True, features=["neon", "dotprod", "i8mm", "sve256"])
    _reconcile_isa(prof, {"neon", "dotprod", "fp16"})
    assert "i8mm" not in prof.features and {"fp16", "sve256", "dotprod"} <= set(prof.features)
    assert any("i8mm" in n and "left out" in n for n in prof.notes)


@requires_qemu
def test_probe_reads_the_emulated_cpus_isa(lab):
    """devices.yaml claims i8mm and bf16 for the Cortex-A76: the probe program's HWCAPs say no."""
    dev = dataclasses.replace(lab.devices["a76-qemu"], features=("neon", "dotprod", "fp16", "i8mm", "bf16"))
    prof = probe(lab, dev)
    assert {"dotprod", "fp16"} <= set(prof.features) and not {"i8mm", "bf16", "fhm"} & set(prof.features)
    arm = probe(lab, lab.devices["arm64-qemu"])
    assert {"dotprod", "i8mm", "bf16", "fhm", "sve"} <= set(arm.features)


def test_native_templates_declare_valid_spaces_and_check_the_dtype():
    from harness.generate.templates.registry import render
    ctx = {"vregs": 32, "lanes": 8, "l1d": 64 * 1024, "l2": 1024 * 1024}
    for name, s in native_lowp.SETS.items():
        assert all(s.space.valid(p, ctx) for p in s.seeds), name
        src = render(name, dict(s.seeds[0]), dtype=s.dtype)
        assert f"tensorop_gemm_{s.dtype}(" in src and "tensorop-params" in src
    with pytest.raises(ValueError, match="GEMM i8"):
        render("neon-i8mm", dict(native_lowp.SETS["neon-i8mm"].seeds[0]), dtype="bf16")


@requires_qemu
def test_the_widening_kernel_has_no_native_instruction(lab):
    """The object check can fail: the widening template's int8 kernel multiplies in f32 (fmla), no sdot/smmla."""
    from harness.generate.templates.cpu_gemm import SETS
    from harness.generate.templates.registry import render
    text = disassembly(lab, "a76-qemu", render("neon", dict(SETS["neon"].seeds[0]), dtype="i8"), "i8")
    assert "fmla" in text and not re.search(r"\s(sdot|smmla)\s", text)


@requires_qemu
def test_int8_widening_template_and_openblas_baseline_run_on_rv64_qemu(lab):
    """qemu-riscv64 7.2 aborts on the vfcvt.rtz.x.f.v clang vectorises an f32 -> int32 loop into;
    both int8 kernels that convert an f32 result keep that loop scalar and pass the exact gate."""
    from harness.backends.cpu.baselines import baseline_kernel
    from harness.generate.templates.registry import render
    dev = lab.devices["rv64-qemu"]
    op = get_op("gemm", "i8")
    widening = Kernel("widening", render("rvv", {"MR": 3, "NV": 1, "LMUL": 8, "U": 1, "KC": 64, "MC": 48, "NC": 256}, dtype="i8").encode())
    for k in (widening, baseline_kernel(lab.ws, "openblas", dev.arch, op=op)):
        with get_transport(dev, lab.ws) as tr:
            t = run_trial(lab.ws, dev, lab.toolchain(dev), tr, k, (7, 37, 70),
                          MeasureOptions.for_device(dev, **FAST), op=op)
        assert t.status.value == "ok" and t.max_rel_err == 0.0, (k.label, t.status, t.error)


def _host_has(flag: str) -> bool:
    return flag in host_cpu_flags()


@pytest.mark.skipif(not _host_has("avx512_vnni"), reason="this host has no AVX-512 VNNI")
def test_vnni_int8_kernel_is_exact_and_runs_vpdpbusd_on_the_host(lab):
    """The x86 VNNI set: A packed as u8 (a + 128), B panels carrying 128 x their column sums: exact
    int32 at awkward shapes, with K across two k blocks (the add-to-C path) and past the edges."""
    import random
    s = native_lowp.SETS["avx512-vnni-i8"]
    dev = lab.devices["host"]
    assert "avx512-vnni-i8" in native_lowp.available("i8", "x86_64", ["avx512_vnni"])
    rng = random.Random()
    for p in (dict(s.seeds[0]), dict(s.seeds[-1])):
        kc = p["KC"]
        shapes = [(1, 29, 1), (13, 35, 19), (rng.randint(2, 40), rng.randint(17, 150), kc + rng.randint(1, 300))]
        for shape in shapes:
            t = trial(lab, "host", native_lowp.render("avx512-vnni-i8", p), shape, "i8")
            assert t.status.value == "ok", (p, shape, t.error)
            assert t.max_rel_err == 0.0, (p, shape)
    b = build_kernel(lab.ws, lab.toolchain(dev), Kernel("native", native_lowp.render("avx512-vnni-i8",
                                                                                     dict(s.seeds[0])).encode()),
                     op=get_op("gemm", "i8"))
    assert b.status.value == "ok", b.log
    objdump = find_tool("llvm-objdump")
    if not objdump:
        pytest.skip("llvm-objdump not installed")
    text = subprocess.run([objdump, "-d", str(b.artifact.executable.parent / "kernel.o")], capture_output=True,
                          text=True, check=True).stdout
    assert re.search(r"\svpdpbusd\s", text)
