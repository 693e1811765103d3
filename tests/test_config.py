"""A malformed devices.yaml or toolchain names the file, line and field; the CLI never
prints a traceback for it."""
import subprocess
import sys

import pytest

from harness.config.devices import load_devices
from harness.core.measure_options import MeasureOptions

from conftest import REPO
from harness.config.toolchains import load_toolchain
from harness.config.yamlfile import ConfigError

GOOD = """devices:
  a:
    arch: x86_64
    toolchain: host-cc
  b:
    arch: riscv64
    toolchain: riscv64-clang
    runner: [qemu-riscv64]
    aliases: [K1]
"""


def load(tmp_path, text):
    p = tmp_path / "devices.yaml"
    p.write_text(text)
    return load_devices(p)


def test_good_file_loads(tmp_path):
    d = load(tmp_path, GOOD)
    assert d["b"].aliases == ("K1",) and d["b"].runner == ("qemu-riscv64",)


def test_time_limit_floor_defaults_by_kind(tmp_path):
    """slow_gflops scales time limits with the work: a CPU 0.2, an emulated device 0.02, a GPU 20
    (the CPU floor would give a 4096^3 GEMM hours before a hung kernel is killed); set, it wins."""
    gpu = "\n  g:\n    arch: x86_64\n    toolchain: cuda-nvcc\n    features: [cuda, sm_90a]\n"
    d = load(tmp_path, GOOD + gpu + gpu.replace("g:", "h:").replace("sm_90a]", "sm_90a]\n    slow_gflops: 500"))
    assert (d["a"].slow_gflops, d["g"].slow_gflops, d["h"].slow_gflops) == (0.2, 20.0, 500.0)


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("arch: riscv64", "arch: riscv64\n    transport: carrier-pigeon"), 7, ["transport", "carrier-pigeon"]),
    (GOOD.replace("    arch: x86_64\n", ""), 2, ["device 'a'", "arch"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    tiemout_s: 3"), 5, ["tiemout_s", "unknown field"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    timeout_s: soon"), 5, ["timeout_s", "number"]),
    (GOOD.replace("aliases: [K1]", "aliases: [K1, a]"), 6, ["alias", "'a'"]),
    (GOOD.replace("runner: [qemu-riscv64]", "runner: [qemu-riscv64"), 9, ["YAML syntax"]),
    (GOOD.replace("arch: riscv64", "arch: riscv64\n    transport: ssh"), 5, ["ssh", "host"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    measure: {max_time_s: fast}"), 5, ["max_time_s"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    measure:\n      warmup: 1\n      max_tiem_s: 2"), 7,
     ["max_tiem_s", "unknown field", "max_time_s"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    measure: {min_samples: 2.5}"), 5, ["min_samples", "integer"]),
])
def test_bad_field_named_with_line(tmp_path, text, line, words):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    msg = str(e.value)
    assert f"devices.yaml:{line}:" in msg, msg
    for w in words:
        assert w in msg, msg


def test_bad_toolchain_file(tmp_path):
    p = tmp_path / "vendor.yaml"
    p.write_text("name: vendor\narch: riscv64\ncflags: [-O3]\n")
    with pytest.raises(ConfigError, match=r"vendor.yaml:1: .*'cc'"):
        load_toolchain(p)


def test_cli_reports_broken_devices_file_without_traceback(workspace):
    (workspace.root / "devices.yaml").write_text(GOOD.replace("arch: x86_64", "arch: [x86_64]"))
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "list"], capture_output=True, text=True,
                       cwd=workspace.root)
    assert p.returncode == 2
    assert "devices.yaml:3:" in p.stderr and "arch" in p.stderr
    assert "Traceback" not in p.stderr


def test_devices_check_reports_missing_toolchain_and_runner(workspace):
    (workspace.root / "toolchains" / "ghost.yaml").write_text(
        "name: ghost\narch: riscv64\ncc: [riscv64-ghost-gcc-99]\ninstall: {notes: vendor tarball}\n")
    (workspace.root / "devices.yaml").write_text("""devices:
  ghostboard:
    arch: riscv64
    toolchain: ghost
  noqemu:
    arch: riscv64
    toolchain: riscv64-clang
    runner: [qemu-riscv64-not-installed, -cpu, rv64]
""")
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "check"], capture_output=True, text=True,
                       cwd=workspace.root)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "riscv64-ghost-gcc-99" in p.stdout and "vendor tarball" in p.stdout
    assert "qemu-riscv64-not-installed not found" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr


def test_measure_fields_come_from_measure_options(tmp_path):
    """Every MeasureOptions field is accepted in a measure: block, with its own type."""
    import dataclasses
    body = {f.name: ("true" if f.type == "bool" else "1" if f.type == "int" else "0.5")
            for f in dataclasses.fields(MeasureOptions)}
    block = "\n".join(f"      {k}: {v}" for k, v in body.items())
    d = load(tmp_path, GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    measure:\n" + block))
    assert set(d["a"].measure) == set(body)
    assert MeasureOptions.for_device(d["a"]).min_samples == 1


def uncommented_examples(text: str) -> tuple[str, list[str]]:
    """The shipped devices.yaml with its commented example devices uncommented, and their names."""
    head, sep, tail = text.partition("# --- Examples")
    assert sep, "devices.yaml has no examples section"
    lines, names = [], []
    for line in tail.splitlines()[1:]:
        stripped = line.lstrip()
        if not stripped.startswith("#"):
            lines.append(line)
            continue
        body = stripped[1:]
        body = body[1:] if body.startswith(" ") else body
        indent = line[:len(line) - len(stripped)]
        if body and not body.startswith(" ") and body.split("#")[0].rstrip().endswith(":"):
            names.append(body.split(":")[0])
        lines.append(indent + body if body else "")
    return head.rstrip(" ") + "\n".join(lines) + "\n", names


def test_shipped_examples_load_when_uncommented(tmp_path):
    import dataclasses
    text, names = uncommented_examples((REPO / "devices.yaml").read_text())
    assert "k1" in names and len(names) >= 2, names
    devices = load(tmp_path, text)
    for n in names:
        assert n in devices, n
    shipped = load_devices(REPO / "devices.yaml")
    for name in ("host", "rv64-qemu", "arm64-qemu"):
        assert dataclasses.replace(devices[name], source=None) == dataclasses.replace(shipped[name], source=None)


def test_toolchain_env_is_the_compilers_environment(tmp_path):
    bindir = tmp_path / "vendor-bin"
    bindir.mkdir()
    cc = bindir / "vendor-cc"
    cc.write_text("#!/bin/sh\necho vendor-cc 1.0\n")
    cc.chmod(0o755)
    p = tmp_path / "vendor.yaml"
    p.write_text(f"name: vendor\narch: riscv64\ncc: [vendor-cc]\nenv: {{PATH: \"{bindir}:$PATH\", VENDOR_LICENSE: x}}\n")
    tc = load_toolchain(p)
    env = tc.environ({"PATH": "/usr/bin", "HOME": "/h"})
    assert env == {"PATH": f"{bindir}:/usr/bin", "HOME": "/h", "VENDOR_LICENSE": "x"}
    assert tc.compiler() == str(cc)          # found on the env's PATH, not tensorop's
    p.write_text("name: vendor\narch: riscv64\ncc: [vendor-cc]\nenv: {A: [1]}\n")
    with pytest.raises(ConfigError, match=r"vendor.yaml:4: .*env.* 'A'"):
        load_toolchain(p)


def test_board_names_resolve_honestly(lab, capsys):
    """A board that is not configured means its closest emulated core, said out loud; an RVV 0.7.1
    board or a GPU is an error naming what it needs; never another ISA."""
    from harness.config.yamlfile import ConfigError
    from harness.generate.prompt import PromptError, parse_prompt
    notes = []
    assert lab.device("SpacemiT K1", notify=notes.append).name == "rv64-qemu"
    assert "not configured; using rv64-qemu, modelled as sifive-x280, VLEN 256" in notes[0]
    assert lab.device("pi5", notify=notes.append).name == "a76-qemu"
    assert lab.device("C908", notify=notes.append).name == "rv64-qemu-vlen128"
    for name, needs in (("C910", "XTheadVector"), ("c906", "GCC >= 14"), ("H100", "GPU")):
        with pytest.raises(ConfigError, match=needs):
            lab.device(name)
    task = parse_prompt("512x512x512 sgemm on the K1", lab.devices, notify=notes.append)
    assert task.devices == ("rv64-qemu",) and task.shape == (512, 512, 512)
    with pytest.raises(PromptError, match="XTheadVector"):
        parse_prompt("256 gemm on the C910", lab.devices)


def test_a_configured_board_wins_over_emulation(workspace):
    from harness.config.lab import Lab
    text = (workspace.root / "devices.yaml").read_text()
    text = text.replace("devices:\n", "devices:\n  k1:\n    arch: riscv64\n    transport: ssh\n    host: bpi-f3.lab\n"
                        "    toolchain: riscv64-clang\n", 1)
    (workspace.root / "devices.yaml").write_text(text)
    lab = Lab.load(workspace)
    notes = []
    assert lab.device("K1", notify=notes.append).name == "k1" and not notes
