"""Builder: compile a kernel with a device's toolchain, check its symbols, link it with the
timing driver. Artifacts are content-hashed and cached under .cache/builds/<key>/.

Compiler and linker output is kept verbatim (it is what the LLM is shown later).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.config.toolchains import Toolchain
from harness.backends.cpu.object_gate import RULES, Policy, check_object
from harness.backends.cpu.program_gate import KERNEL_LINK_SCRIPT, LINK_FLAGS, check_program, code_map
from harness.sandbox.bubblewrap import SandboxUnavailable, sandbox_prefix
from harness.ops import Op, default_op
from harness.ops.base import DRIVER_DIR
from harness.core.records import Artifact, BuildResult, CodeMap, Status

COMPILE_TIMEOUT_S = 60            # a kernel that takes longer (an #include bomb) is a compile_error
BUILD_FORMAT = "6"          # bump when the build recipe changes
PAIR_SYMBOL = "tensorop_gemm_f32_b"    # GEMM f32's; every op: Op.pair_symbol (<symbol>_b)
# Full RELRO: the GOT is read-only once the program runs, so a kernel cannot redirect the
# driver's calls (clock_gettime, fwrite) by writing into it. Then the program gate's link recipe
# (program_gate.LINK_FLAGS): position-dependent (the QEMU plugin gets the markers' addresses),
# only code executable (-z separate-code, -z noexecstack), the kernel's code in its own section.
HARDEN_LDFLAGS = ("-Wl,-z,relro", "-Wl,-z,now", *LINK_FLAGS)


@dataclass(frozen=True)
class BuildRequest:
    source: bytes                       # the kernel's C source
    toolchain: Toolchain
    name: str = "kernel.c"              # shown in compiler messages
    extra_cflags: tuple[str, ...] = ()
    libs: tuple[Path, ...] = ()         # shared libraries linked in and shipped beside the binary
    allow_blas: bool = False            # harness-owned baselines only: the object gate is skipped
    relax: tuple[str, ...] = ()         # object-gate rules a trusted user kernel is exempt from
    threads: int = 1                    # >1: the task allows threads (pthread/OpenMP symbols)
    op: Op | None = None                # the operator whose ABI the kernel implements (None: GEMM f32)

    @property
    def the_op(self) -> Op:
        return self.op or default_op()

    def policy(self, symbol: str | None = None) -> Policy:
        return Policy(abi_symbol=symbol or self.the_op.symbol, allow_threads=self.threads > 1,
                      relax=RULES if self.allow_blas else self.relax)

    def key(self, cc: str, version: str, partner: "BuildRequest | None" = None) -> str:
        h = hashlib.sha256()
        op = self.the_op
        for part in (BUILD_FORMAT, self.source, op.key, op.driver_source.read_bytes(), _core_header(),
                     " ".join(op.driver_defines), cc, version,
                     json.dumps([self.toolchain.cflags, self.toolchain.ldflags, self.extra_cflags,
                                 [str(p) for p in self.libs], self.allow_blas, self.name, list(self.relax),
                                 self.threads, sorted(self.toolchain.env.items())]),
                     partner.key(cc, version) if partner else ""):
            h.update(part if isinstance(part, bytes) else part.encode())
            h.update(b"\0")
        return h.hexdigest()


def _core_header() -> bytes:
    """The shared driver headers (tensorop_worker.h, driver_core.h, driver_modes.h, tensorop.h): part of
    every build key."""
    return b"".join(p.read_bytes() for p in sorted(DRIVER_DIR.glob("*.h")))


def _paths_in(args: list[str]) -> list[Path]:
    """Absolute paths named by compiler arguments (-I/x, -L/x, --sysroot=/x, /x/lib.so, ...)."""
    out = []
    for a in args:
        for prefix in ("-I", "-L", "-isystem", "--sysroot=", "-B", ""):
            if a.startswith(prefix) and a[len(prefix):].startswith("/"):
                q = Path(a[len(prefix):])
                if q.exists():
                    out.append(q)
                break
    return out


def run_compiler(cmd: list[str], cwd: Path, tc: Toolchain, readable_extra=()) -> tuple[int, str]:
    """Run a compiler step. Kernel sources are untrusted too (`.incbin "/any/file"`, `#include`
    of host files): the compiler runs in the sandbox, seeing the system (/usr), its own install,
    the harness's driver sources and the paths its arguments name, and nothing else of the host."""
    full = cmd
    exe = shutil.which(cmd[0], path=tc.environ().get("PATH"))
    try:
        readable = [DRIVER_DIR, *_paths_in(cmd[1:]), *readable_extra]
        if exe:
            real = Path(exe).resolve()
            readable += [real.parent.parent, Path(exe).parent.parent]
        full = [*sandbox_prefix(cwd, readable), *cmd]
    except SandboxUnavailable:
        full = cmd   # no bubblewrap here: the kernel's own runs refuse to start anyway
    try:
        p = subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
                           env={**tc.environ(), "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        return 124, f"$ {' '.join(cmd)}\ncompiler timed out after {COMPILE_TIMEOUT_S} s\n"
    except OSError as e:
        return 127, f"$ {' '.join(cmd)}\ncannot run compiler: {e}\n"
    return p.returncode, f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}"


def build(req: BuildRequest, builds_dir: Path, partner: BuildRequest | None = None) -> BuildResult:
    """Compile the kernel, pass its object through the gate, link it with the timing driver.
    With `partner`, a paired build: the partner kernel is compiled with its ABI function renamed
    to <symbol>_b (tensorop_gemm_f32_b for GEMM), gated too, and both are linked into one driver that times them
    interleaved (mode=pair)."""
    tc = req.toolchain
    cc = tc.compiler()
    if cc is None:
        return BuildResult(Status.DEVICE_ERROR, "", None,
                           f"toolchain {tc.name}: none of {', '.join(tc.cc)} found; install: {tc.install_hint()}")
    version = tc.version()
    key = req.key(cc, version, partner)
    out = builds_dir / key[:20]
    exe = out / "driver"
    stamp = out / "build.json"
    if stamp.is_file() and exe.is_file():
        info = json.loads(stamp.read_text())
        return BuildResult(Status.OK, info["log"], _artifact(req, key, exe, version, info["libs"],
                                                             CodeMap.from_json(info.get("code_map"))))

    builds_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=builds_dir))
    try:
        log: list[str] = []
        objects = []
        op = req.the_op
        units = [(req, op.symbol, "kernel")] + ([(partner, op.pair_symbol, "partner")] if partner else [])
        for unit, symbol, stem in units:
            failed = _compile(cc, unit, symbol, stem, work, log)
            if failed is not None:
                return failed
            objects.append(f"{stem}.o")
        defines = ["-DTENSOROP_PAIR"] if partner else []
        rc, text = run_compiler([cc, *tc.cflags, *defines, *op.driver_defines, f"-I{DRIVER_DIR}", "-c",
                         str(op.driver_source), "-o", "driver.o"], work, tc)
        log.append(text)
        if rc != 0:
            return BuildResult(Status.INTERNAL_ERROR, "".join(log), None,
                               f"the timing driver does not compile with {tc.name}: {_first_error(text)}")
        (work / "kernel.ld").write_text(KERNEL_LINK_SCRIPT)
        libs = list(dict.fromkeys(str(p) for u, _, _ in units for p in u.libs))
        threads = ["-pthread"] if any(u.threads > 1 for u, _, _ in units) else []
        rc, text = run_compiler([cc, *tc.ldflags, *HARDEN_LDFLAGS, *threads, "driver.o", *objects, *libs, "-lm",
                         "-Wl,-rpath,$ORIGIN", "-o", "driver"], work, tc)
        log.append(text)
        if rc != 0:
            # a forbidden symbol (BLAS, dlopen, threads) is a rejection even when it also fails to link;
            # a helper the kernel forgot to define is a link error
            missing = set(re.findall(r"undefined reference to [`']([^'`]+)'", text))
            for unit, symbol, stem in units:
                verdict = check_object(work / f"{stem}.o", unit.policy(symbol))
                serious = [v for v in verdict.violations if not any(f"`{m}` (not on the allow-list: kernels may" in v
                                                                    for m in missing)]
                if serious:
                    msg = "object gate: " + "; ".join(serious)
                    return BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg)
            return BuildResult(Status.LINK_ERROR, "".join(log), None, _first_error(text))
        for unit, symbol, stem in units:   # linked (so a missing helper is a link error), now judged
            failed = _gate(unit, symbol, work / f"{stem}.o", log)
            if failed is not None:
                return failed
        failed = _gate_program(units, work / "driver", log)
        if failed is not None:
            return failed
        cmap = code_map(work / "driver")
        for lib in dict.fromkeys(Path(p) for p in libs):   # beside the binary, found through rpath $ORIGIN
            os.symlink(lib, work / lib.name)
        full_log = "".join(log)
        (work / "build.json").write_text(json.dumps({"log": full_log, "libs": libs, "toolchain": tc.name,
                                                      "version": version, "pair": bool(partner),
                                                      "code_map": cmap.to_json() if cmap else None}))
        publish_build(work, out)
        return BuildResult(Status.OK, full_log, _artifact(req, key, exe, version, libs, cmap))
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def publish_build(work: Path, out: Path) -> None:
    """Move a finished build into its cache directory in one rename (a half-built directory is
    never seen as cached). When another process published the same key first, its build is kept:
    the same key is the same program, and it may be running from that directory right now."""
    try:
        os.rename(work, out)
        return
    except OSError:
        if (out / "build.json").is_file() and (out / "driver").is_file():
            return                                  # the other build stands; `work` is removed by the caller
    shutil.rmtree(out, ignore_errors=True)          # an incomplete leftover
    os.replace(work, out)


def _compile(cc: str, req: BuildRequest, symbol: str, stem: str, work: Path, log: list[str]) -> BuildResult | None:
    """Compile one kernel unit to <stem>.o; None when it compiles."""
    src = work / stem / Path(req.name).name
    src.parent.mkdir()
    src.write_bytes(req.source)
    abi = req.the_op.symbol
    # the partner's ABI function, and a library baseline's note (baselines/tensorop_lib.h), renamed
    rename = [f"-D{abi}={symbol}", "-Dtensorop_lib_note=tensorop_lib_note_b",
              "-Dtensorop_lib_init=tensorop_lib_init_b"] if symbol != abi else []
    cflags = [*req.toolchain.cflags, *req.extra_cflags, *rename, f"-I{DRIVER_DIR}"]
    rc, text = run_compiler([cc, *cflags, "-c", str(src.relative_to(work)), "-o", f"{stem}.o"], work, req.toolchain)
    log.append(text)
    if rc != 0:
        return BuildResult(Status.COMPILE_ERROR, "".join(log), None, _first_error(text))
    return None


def _gate(req: BuildRequest, symbol: str, obj: Path, log: list[str]) -> BuildResult | None:
    """The object gate on one kernel unit; None when it passes."""
    verdict = check_object(obj, req.policy(symbol))
    if verdict.relaxed:
        log.append(f"object gate: rules relaxed for a trusted kernel: {', '.join(verdict.relaxed)}\n")
    if not verdict.ok:
        msg = "object gate: " + verdict.message
        log.append(msg + "\n")
        return BuildResult(Status.REJECTED, "".join(log), None, msg)
    return None


def _gate_program(units, exe: Path, log: list[str]) -> BuildResult | None:
    """The program gate on the linked driver (program_gate.py); None when it passes. A rule is
    waived only when every kernel unit in the program is trusted with it."""
    relaxed = set.intersection(*(set(RULES if u.allow_blas else u.relax) for u, _, _ in units))
    kept = [msg for rule, msg in check_program(exe) if rule not in relaxed]
    if kept:
        msg = "program gate: " + "; ".join(kept)
        log.append(msg + "\n")
        return BuildResult(Status.REJECTED, "".join(log), None, msg)
    return None


def _artifact(req: BuildRequest, key: str, exe: Path, version: str, libs: list[str],
              cmap: CodeMap | None = None) -> Artifact:
    return Artifact(key=key, executable=exe, runtime_libs=tuple(Path(p) for p in libs),
                    toolchain=req.toolchain.name, toolchain_version=version,
                    cflags=(*req.toolchain.cflags, *req.extra_cflags), ldflags=req.toolchain.ldflags,
                    code_map=cmap)


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
