"""The paper's optional route for the micro-kernel: a Python script that emits assembly.

The script is untrusted code: it runs in the bubblewrap sandbox (sandbox/bubblewrap.py: uid
nobody, read-only system and Python, its empty scratch directory the only writable place, no
network, own PID namespace, killed with tensorop), under a time limit and resource limits, with
no inherited environment beyond PATH; only its output file `kernel.S` is kept, read as an untrusted
file (core/untrusted_files.py: a regular file, not through a link, bounded), so a script cannot get
the harness to read a host file into the next prompt. The assembly is wrapped into a C translation
unit as a file-scope asm statement so the normal builder compiles and links it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.core.untrusted_files import UntrustedFileError, read_untrusted
from harness.sandbox.bubblewrap import Limits, SandboxUnavailable, sandbox_prefix

OUTPUT = "kernel.S"
MAX_ASSEMBLY = 4 << 20     # bytes of kernel.S read back
PRELUDE = (
    "import socket as _s\n"
    "def _no(*a, **k):\n    raise OSError('network is disabled for generator scripts')\n"
    "_s.socket = _no; _s.create_connection = _no; _s.getaddrinfo = _no\n"
    "del _s, _no\n"
)


def run_script(code: str, timeout_s: float = 20.0, scratch: Path | None = None) -> tuple[str, str]:
    """(assembly, reason): the text the script wrote to kernel.S, or a reason it failed."""
    work = Path(tempfile.mkdtemp(prefix="asmgen-", dir=scratch))
    try:
        return _run(code, work, timeout_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(code: str, work: Path, timeout_s: float) -> tuple[str, str]:
    (work / "gen.py").write_text(PRELUDE + "exec(compile(" + json.dumps(code) + ", 'gen.py', 'exec'), {'__name__': '__main__'})\n")
    python = Path(sys.executable).resolve()
    try:
        prefix = sandbox_prefix(work, [Path(sys.base_prefix), python.parent.parent])
    except SandboxUnavailable as e:
        return "", f"the assembly-emitting script cannot run: no sandbox ({e})"
    cmd = [*prefix, str(python), "-I", "-S", "gen.py"]
    limits = Limits(cpu_s=int(timeout_s) + 1, address_space=2 << 30, file_size=16 << 20)
    try:
        p = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout_s,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                           preexec_fn=limits.apply, stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return "", f"the assembly-emitting script ran longer than {timeout_s:.0f} s and was killed"
    if p.returncode != 0:
        return "", f"the assembly-emitting script failed (exit {p.returncode}):\n{p.stderr[-1500:]}"
    try:
        text = read_untrusted(work / OUTPUT, MAX_ASSEMBLY).decode("utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    except UntrustedFileError as e:
        return "", f"the script's {OUTPUT} cannot be used: {e}"
    if not text.strip():
        return "", f"the script did not write its assembly to {OUTPUT} in the current directory"
    return text, ""


def wrap_assembly(asm: str) -> str:
    """C source holding the assembly as a file-scope asm block (the builder compiles C)."""
    lines = "\n".join(f"    {json.dumps(l + chr(10))}" for l in asm.splitlines())
    return ("/* assembly emitted by a generator script, wrapped as a file-scope asm statement */\n"
            "void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,\n"
            "                       const float *B, int ldb, float *C, int ldc);\n"
            f"__asm__(\n{lines}\n);\n")
