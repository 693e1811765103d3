"""A malformed devices.yaml or toolchain names the file, line and field; the CLI never
prints a traceback for it."""
import subprocess
import sys

import pytest

from harness.config.devices import load_devices
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


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("arch: riscv64", "arch: riscv64\n    transport: carrier-pigeon"), 7, ["transport", "carrier-pigeon"]),
    (GOOD.replace("    arch: x86_64\n", ""), 2, ["device 'a'", "arch"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    tiemout_s: 3"), 5, ["tiemout_s", "unknown field"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    timeout_s: soon"), 5, ["timeout_s", "number"]),
    (GOOD.replace("aliases: [K1]", "aliases: [K1, a]"), 6, ["alias", "'a'"]),
    (GOOD.replace("runner: [qemu-riscv64]", "runner: [qemu-riscv64"), 9, ["YAML syntax"]),
    (GOOD.replace("arch: riscv64", "arch: riscv64\n    transport: ssh"), 5, ["ssh", "host"]),
    (GOOD.replace("toolchain: host-cc", "toolchain: host-cc\n    measure: {max_time_s: fast}"), 5, ["max_time_s"]),
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
    p = subprocess.run([sys.executable, "-m", "harness.cli", "devices", "list"], capture_output=True, text=True,
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
    p = subprocess.run([sys.executable, "-m", "harness.cli", "devices", "check"], capture_output=True, text=True,
                       cwd=workspace.root)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "riscv64-ghost-gcc-99" in p.stdout and "vendor tarball" in p.stdout
    assert "qemu-riscv64-not-installed not found" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
