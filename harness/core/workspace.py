"""Where tensorop keeps things: the project root (devices.yaml, toolchains/, generated/,
results/) and its cache (.cache/: sysroots, OpenBLAS libraries, the QEMU plugin, builds).

The root is the directory named by $TENSOROP_HOME, else the nearest directory at or above
the current one that holds devices.yaml, else the source checkout this package lives in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]      # harness/


def _env_path(variable: str, default: Path) -> Path:
    return Path(os.environ.get(variable, default))


def _find_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / "devices.yaml").is_file():
            return d
    return None


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def discover(cls, explicit: str | os.PathLike | None = None) -> "Workspace":
        if explicit:
            return cls(Path(explicit).resolve())
        env = os.environ.get("TENSOROP_HOME")
        if env:
            return cls(Path(env).resolve())
        found = _find_root(Path.cwd().resolve())
        if found:
            return cls(found)
        return cls(PACKAGE_DIR.parent)

    @property
    def devices_file(self) -> Path:
        return self.root / "devices.yaml"

    @property
    def toolchains_dir(self) -> Path:
        return self.root / "toolchains"

    # cache, scratch, profiles and the database may be moved by an environment variable each
    cache = property(lambda self: _env_path("TENSOROP_CACHE", self.root / ".cache"))
    builds = property(lambda self: self.cache / "builds")
    scratch = property(lambda self: _env_path("TENSOROP_SCRATCH", self.cache / "scratch"))
    # hardware profiles (harness/backends/cpu/probe.py), one file per device configuration
    profiles = property(lambda self: _env_path("TENSOROP_PROFILES", self.cache / "profiles"))
    results = property(lambda self: self.root / "results")
    database = property(lambda self: _env_path("TENSOROP_DB", self.results / "tensorop.db"))

    @property
    def generated(self) -> Path:
        return self.root / "generated"

    @property
    def qemu_plugin(self) -> Path:
        return self.cache / "qemu" / "libtensorop.so"

    def expand(self, text: str) -> str:
        """Expand {root} and {cache} in a path or argument taken from YAML."""
        return text.replace("{root}", str(self.root)).replace("{cache}", str(self.cache))
