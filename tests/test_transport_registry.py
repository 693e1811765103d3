"""The transport registry, the SSH package's public names, and the device-side shell scripts
kept as package data (each must parse with `sh -n`)."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from importlib import resources

import pytest

from conftest import REPO
from harness.transport import scripts
from harness.config.devices import TRANSPORTS
from harness.transport import REGISTRY, get_transport, names, register, transport_class
from harness.transport.base import Transport


@pytest.mark.parametrize("name", scripts.NAMES)
def test_device_scripts_parse(name, tmp_path):
    path = resources.files("harness.transport.scripts").joinpath(name)
    assert path.is_file(), f"{name} is not package data"
    text = scripts.script(name)
    assert text.startswith("#!/bin/sh\n")
    f = tmp_path / name
    f.write_text(text)
    for sh in ("sh", "dash", "bash", "busybox"):
        exe = shutil.which(sh)
        if exe is None:
            continue
        argv = [exe, "sh", "-n", str(f)] if sh == "busybox" else [exe, "-n", str(f)]
        r = subprocess.run(argv, capture_output=True, text=True)
        assert r.returncode == 0, f"{sh} -n {name}: {r.stderr}"
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", "-s", "sh", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


def test_scripts_listed_as_package_data():
    text = (REPO / "pyproject.toml").read_text()
    assert '"transport/scripts/*.sh"' in text
    on_disk = sorted(p.name for p in (REPO / "harness" / "transport" / "scripts").glob("*.sh"))
    assert on_disk == sorted(scripts.NAMES)


def test_registry_names_and_classes(workspace):
    assert set(names()) == set(TRANSPORTS) >= {"local", "ssh", "labgrid"}
    for name in ("local", "ssh"):
        cls = transport_class(name)
        assert issubclass(cls, Transport) and cls.kind == name
    from harness.config.lab import Lab
    lab = Lab.load(workspace)
    with get_transport(lab.devices["host"], lab.ws) as t:
        assert t.kind == "local"
    with pytest.raises(NotImplementedError, match="unknown transport 'nope'"):
        transport_class("nope")


def test_register_a_transport_at_run_time():
    class Fake(Transport):
        kind = "fake"

        def run(self, *a, **k):
            raise AssertionError

        def run_command(self, *a, **k):
            raise AssertionError

    register("fake", Fake)
    try:
        assert transport_class("fake") is Fake
    finally:
        REGISTRY.pop("fake")


def test_base_knows_none_of_its_children_and_no_cycle():
    tree = ast.parse((REPO / "harness" / "transport" / "base.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    for child in ("local", "ssh", "labgrid", "sandbox"):
        assert not any(m == child or m.endswith("." + child) for m in imported), imported
    # importing the registry, the base class or the device config loads no transport module
    code = ("import sys, harness.config.devices, harness.transport, harness.transport.base; "
            "print(sorted(m for m in sys.modules if m.startswith('harness.transport.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['harness.transport.base']", out


def test_ssh_public_names():
    from harness.transport import ssh
    for name in ("SSHTransport", "SSHError", "scan_host_key", "trust_host_key", "fingerprint", "resolve_endpoint",
                 "HOST_GRACE_S"):
        assert hasattr(ssh, name), name
    assert not hasattr(ssh.SSHTransport, "failures")
