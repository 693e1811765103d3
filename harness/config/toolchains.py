"""Toolchains: one YAML file per toolchain in toolchains/ (compiler, flags, how to install).

A user adds a vendor compiler (a T-Head or SpacemiT GCC, say) by adding one file:

    name: riscv64-xuantie-gcc
    arch: riscv64
    cc: [riscv64-unknown-linux-gnu-gcc]       # first one found on PATH (or an absolute path)
    cflags: [-O3, -march=rv64gcv0p7]
    ldflags: []
    env: {PATH: "/opt/xuantie/bin:$PATH"}    # set for the compiler ($VAR expands from tensorop's environment)
    install: {notes: "unpack the vendor tarball and put its bin/ on PATH"}
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.devices import native_arch
from harness.config.yamlfile import ConfigError, FieldReader, load_yaml

KNOWN = {"name", "arch", "cc", "cflags", "ldflags", "install", "description", "env"}


@dataclass(frozen=True)
class Toolchain:
    name: str
    arch: str
    cc: tuple[str, ...]                 # candidates, first found wins
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    install: dict = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    env: dict = field(default_factory=dict, hash=False, compare=False)   # the compiler's environment
    source: Path | None = None

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment to run this toolchain's compiler in: `base` (default os.environ) with
        the YAML's `env` applied, each value's $VAR / ${VAR} expanded from `base`."""
        base = dict(os.environ if base is None else base)
        out = dict(base)
        for k, v in self.env.items():
            out[k] = _expand(str(v), base)
        return out

    def compiler(self) -> str | None:
        """The first candidate compiler that exists, as an absolute path, or None."""
        for c in self.cc:
            p = Path(c)
            if p.is_absolute():
                if p.exists() and os.access(p, os.X_OK):
                    return str(p)
            else:
                found = shutil.which(c, path=self.environ().get("PATH"))
                if found:
                    return found
        return None

    def version(self) -> str:
        cc = self.compiler()
        return _version(cc) if cc else ""

    def install_hint(self) -> str:
        apt = self.install.get("apt") if isinstance(self.install, dict) else None
        notes = self.install.get("notes", "") if isinstance(self.install, dict) else ""
        parts = []
        if apt:
            parts.append("apt-get install " + " ".join(apt))
        if notes:
            parts.append(str(notes))
        return "; ".join(parts) or "see " + str(self.source)


def _expand(text: str, env: dict[str, str]) -> str:
    import re
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env.get(m.group(1) or m.group(2), ""), text)


@functools.lru_cache(maxsize=None)
def _version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def load_toolchain(path: Path) -> Toolchain:
    data = load_yaml(path)
    r = FieldReader(path, data, f"toolchain in {path.name}")
    r.unknown(KNOWN)
    name = r.str("name", default=path.stem)
    cc = r.str_list("cc", required=True)
    if not cc:
        raise r.fail("cc", "needs at least one compiler")
    arch = r.str("arch", required=True)
    env = r.mapping("env")
    for k, v in env.items():
        if not isinstance(k, str) or not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise FieldReader(path, env, f"toolchain in {path.name} env").fail(k, "expected NAME: string value")
    return Toolchain(
        name=name,
        arch=native_arch() if arch == "native" else arch,
        cc=tuple(cc),
        cflags=tuple(r.str_list("cflags")),
        ldflags=tuple(r.str_list("ldflags")),
        install=r.mapping("install"),
        description=r.str("description"),
        env={k: str(v) for k, v in env.items()},
        source=path,
    )


def load_toolchains(directory: Path) -> dict[str, Toolchain]:
    out: dict[str, Toolchain] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.yaml")):
        tc = load_toolchain(path)
        if tc.name in out:
            raise ConfigError(f"{path}:1: toolchain name {tc.name!r} already defined in {out[tc.name].source}")
        out[tc.name] = tc
    return out
