"""Builder: compile a kernel with a device's toolchain, check its symbols, link it with the
timing driver. Artifacts are content-hashed and cached under .cache/builds/<key>/.

Compiler and linker output is kept verbatim (it is what the LLM is shown later).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import symbol_policy
from .config.toolchains import Toolchain
from .ops import gemm
from .records import Artifact, BuildResult, Status

COMPILE_TIMEOUT_S = 180
BUILD_FORMAT = "1"          # bump when the build recipe changes


@dataclass(frozen=True)
class BuildRequest:
    source: bytes                       # the kernel's C source
    toolchain: Toolchain
    name: str = "kernel.c"              # shown in compiler messages
    extra_cflags: tuple[str, ...] = ()
    libs: tuple[Path, ...] = ()         # shared libraries linked in and shipped beside the binary
    allow_blas: bool = False            # only the harness's own OpenBLAS baseline sets this

    def key(self, cc: str, version: str) -> str:
        h = hashlib.sha256()
        for part in (BUILD_FORMAT, self.source, gemm.DRIVER_SOURCE.read_bytes(), cc, version,
                     json.dumps([self.toolchain.cflags, self.toolchain.ldflags, self.extra_cflags,
                                 [str(p) for p in self.libs], self.allow_blas, self.name])):
            h.update(part if isinstance(part, bytes) else part.encode())
            h.update(b"\0")
        return h.hexdigest()


def source_hash(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()[:16]


def _run(cmd: list[str], cwd: Path) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
                           env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        return 124, f"$ {' '.join(cmd)}\ncompiler timed out after {COMPILE_TIMEOUT_S} s\n"
    except OSError as e:
        return 127, f"$ {' '.join(cmd)}\ncannot run compiler: {e}\n"
    return p.returncode, f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}"


def build(req: BuildRequest, builds_dir: Path) -> BuildResult:
    tc = req.toolchain
    cc = tc.compiler()
    if cc is None:
        return BuildResult(Status.DEVICE_ERROR, "", None,
                           f"toolchain {tc.name}: none of {', '.join(tc.cc)} found; install: {tc.install_hint()}")
    version = tc.version()
    key = req.key(cc, version)
    out = builds_dir / key[:20]
    exe = out / "driver"
    stamp = out / "build.json"
    if stamp.is_file() and exe.is_file():
        info = json.loads(stamp.read_text())
        return BuildResult(Status.OK, info["log"], _artifact(req, key, exe, version, info["libs"]))

    builds_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=builds_dir))
    try:
        src = work / Path(req.name).name
        src.write_bytes(req.source)
        cflags = [*tc.cflags, *req.extra_cflags, f"-I{gemm.HEADER_DIR}"]
        log = []
        rc, text = _run([cc, *cflags, "-c", src.name, "-o", "kernel.o"], work)
        log.append(text)
        if rc != 0:
            return BuildResult(Status.COMPILE_ERROR, "".join(log), None, _first_error(text))
        if not req.allow_blas:
            bad = symbol_policy.forbidden(symbol_policy.undefined_symbols(work / "kernel.o"))
            if bad:
                msg = "kernel references forbidden symbols: " + ", ".join(bad)
                return BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg)
        rc, text = _run([cc, *tc.cflags, "-c", str(gemm.DRIVER_SOURCE), "-o", "driver.o"], work)
        log.append(text)
        if rc != 0:
            return BuildResult(Status.DEVICE_ERROR, "".join(log), None,
                               f"the timing driver does not compile with {tc.name}: {_first_error(text)}")
        libs = [str(p) for p in req.libs]
        rc, text = _run([cc, *tc.ldflags, "driver.o", "kernel.o", *libs, "-lm", "-Wl,-rpath,$ORIGIN",
                         "-o", "driver"], work)
        log.append(text)
        if rc != 0:
            return BuildResult(Status.LINK_ERROR, "".join(log), None, _first_error(text))
        for lib in req.libs:   # beside the binary, found through rpath $ORIGIN wherever it runs
            os.symlink(lib, work / lib.name)
        full_log = "".join(log)
        (work / "build.json").write_text(json.dumps({"log": full_log, "libs": libs, "toolchain": tc.name,
                                                      "version": version}))
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        os.replace(work, out)   # atomic publish: a half-built directory is never seen as cached
        return BuildResult(Status.OK, full_log, _artifact(req, key, exe, version, libs))
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _artifact(req: BuildRequest, key: str, exe: Path, version: str, libs: list[str]) -> Artifact:
    return Artifact(key=key, executable=exe, runtime_libs=tuple(Path(p) for p in libs),
                    toolchain=req.toolchain.name, toolchain_version=version,
                    cflags=(*req.toolchain.cflags, *req.extra_cflags), ldflags=req.toolchain.ldflags)


def _first_error(text: str, limit: int = 600) -> str:
    """The first diagnostic line that says error, for one-line summaries (the full log is kept)."""
    for line in text.splitlines():
        if line.startswith("$ "):   # the command line itself
            continue
        low = line.lower()
        if "error:" in low or "undefined reference" in low or "multiple definition" in low:
            return line.strip()[:limit]
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("$ ")]
    return (lines[-1] if lines else "failed").strip()[:limit]
