"""Guards on generated code: everything an LLM answer must pass before it is compiled.

Each check returns a reason string (fed back to the LLM) or "" when the code is acceptable.
The builder's symbol policy still rejects BLAS symbols at link time; these guards catch the
rest early and explain why.
"""
from __future__ import annotations

import re

SYMBOL = "tensorop_gemm_f32"
FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)```", re.S)
OPEN_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n")
SIGNATURE_RE = re.compile(
    r"void\s+tensorop_gemm_f32\s*\(\s*(?:const\s+)?int\s+\w+\s*,\s*(?:const\s+)?int\s+\w+\s*,\s*(?:const\s+)?int\s+\w+\s*,"
    r"\s*const\s+float\s*\*\s*(?:restrict\s+|__restrict__\s+|__restrict\s+)?\w+\s*,\s*(?:const\s+)?int\s+\w+\s*,"
    r"\s*const\s+float\s*\*\s*(?:restrict\s+|__restrict__\s+|__restrict\s+)?\w+\s*,\s*(?:const\s+)?int\s+\w+\s*,"
    r"\s*float\s*\*\s*(?:restrict\s+|__restrict__\s+|__restrict\s+)?\w+\s*,\s*(?:const\s+)?int\s+\w+\s*\)\s*\{")

# (pattern, what it is) -- matched on the code with comments and strings removed, except the
# reference-reading patterns which also look at string literals.
FORBIDDEN_CALLS = [
    (r"\b(system|popen|fork|vfork|clone|execl|execlp|execle|execv|execvp|execve|posix_spawnp?)\s*\(",
     "process creation ({0})"),
    (r"\b(socket|connect|bind|listen|accept|getaddrinfo|gethostbyname|sendto|recvfrom)\s*\(", "networking ({0})"),
    (r"\b(fopen|freopen|fdopen|open|openat|creat|fwrite|fputs|fprintf|write|pwrite|unlink|remove|rename|"
     r"mkdir|truncate|ftruncate|mmap|dlopen|dlsym|ptrace|syscall|kill|signal|sigaction|setjmp|longjmp|"
     r"exit|_exit|abort|atexit|getenv|read|pread|fread|fgets|fscanf|scanf)\s*\(", "forbidden call ({0})"),
    (r"\b(cblas_\w+|[sdcz]gemm_?|[sdcz]gemv_?|openblas_\w+|mkl_\w+|bli_\w+|eigen\w*)\s*\(", "BLAS call ({0})"),
    (r"#\s*include\s*[<\"](sys/socket|netinet/\w+|arpa/\w+|netdb|unistd|fcntl|dlfcn|spawn|sys/mman|sys/syscall|"
     r"cblas|openblas\w*|mkl\w*|lapacke?|blis)\.h[>\"]", "forbidden header ({0})"),
    (r"\b(main)\s*\(", "a main() function (the harness owns the driver)"),
    (r"\b(environ|__environ|program_invocation_name)\b", "access to the process environment ({0})"),
]
ASM_SYSCALL = r"\b(syscall|sysenter|svc\s+#?0|ecall|int\s+\$0x80)\b"
REFERENCE_PATTERNS = [
    (r"\b(?:asm|__asm__|__asm)\b[^;]*?" + ASM_SYSCALL, "a system call in inline assembly"),
    (r"\bc\d+\.bin\b|\bexpected\w*\.bin\b|\breference\w*\.(bin|npy)\b", "an attempt to read the harness's reference/output files"),
    (r"/proc/|/dev/mem|/tmp/", "an attempt to read files of the harness or system"),
    (r"\btensorop_(driver|reference|check)\w*", "an attempt to reach the harness's driver internals"),
]


def strip_comments_and_strings(code: str) -> str:
    out = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    out = re.sub(r"//[^\n]*", " ", out)
    out = re.sub(r'"(\\.|[^"\\])*"', '""', out)
    out = re.sub(r"'(\\.|[^'\\])*'", "''", out)
    return out


def extract_code(answer: str, finish_reason: str | None = None, symbol: str = SYMBOL) -> tuple[str, str, str]:
    """(language, code, reason). reason is non-empty when no usable code block was found."""
    if finish_reason == "length":
        return "", "", ("the answer was truncated (the model hit its output token limit); send a shorter, "
                        "complete kernel in one ```c code block")
    blocks = FENCE_RE.findall(answer or "")
    if not blocks:
        if OPEN_FENCE_RE.search(answer or ""):
            return "", "", "the answer was truncated: a ``` code block was opened but never closed"
        return "", "", "the answer contains no code block; reply with the complete kernel in one ```c code block"
    py = [(l, c) for l, c in blocks if l.lower() in ("python", "py", "python3")]
    cs = [(l, c) for l, c in blocks if l.lower() in ("c", "cpp", "c++", "h", "", "cuda", "cu")]
    cs_with_abi = [(l, c) for l, c in cs if symbol in c]
    if cs_with_abi:
        lang, code = max(cs_with_abi, key=lambda b: len(b[1]))
        return "c", code, ""
    if py:
        lang, code = max(py, key=lambda b: len(b[1]))
        return "python", code, ""
    if cs:
        lang, code = max(cs, key=lambda b: len(b[1]))
        return "c", code, ""
    lang, code = blocks[0]
    return lang.lower(), code, ""


def _balanced(code: str) -> str:
    depth = {"{": 0, "(": 0, "[": 0}
    pairs = {"}": "{", ")": "(", "]": "["}
    for ch in code:
        if ch in depth:
            depth[ch] += 1
        elif ch in pairs:
            depth[pairs[ch]] -= 1
            if depth[pairs[ch]] < 0:
                return f"unbalanced '{ch}'"
    open_ = [k for k, v in depth.items() if v > 0]
    return f"{depth[open_[0]]} unclosed '{open_[0]}'" if open_ else ""


def _signature_ok(bare: str, op) -> bool:
    """A definition of the op's ABI function with as many parameters as its prototype."""
    m = re.search(r"\bvoid\s+" + re.escape(op.symbol) + r"\s*\(([^)]*)\)\s*\{", bare)
    return bool(m) and len(m.group(1).split(",")) == len(op.prototype.split("(", 1)[1].split(","))


def malformed(code: str) -> tuple[str, str]:
    """(the source without comments and strings, why it is empty or truncated, or "") for any
    kernel language (C here, CUDA in harness/generate/cuda.py)."""
    if not code.strip():
        return "", "the code block is empty"
    bare = strip_comments_and_strings(code)
    bal = _balanced(bare)
    return bare, (f"the code looks truncated or malformed ({bal}); send the complete kernel" if bal else "")


def check_c(code: str, op=None) -> str:
    """The reason this C source is unacceptable, or "" (op: the kernel's operator, default GEMM f32)."""
    bare, why = malformed(code)
    if why:
        return why
    if op is not None and op.symbol != SYMBOL:
        if not _signature_ok(bare, op):
            return (f"the code does not define {op.symbol} with the ABI's signature: "
                    + " ".join(op.prototype.split()))
    elif not SIGNATURE_RE.search(bare):
        names = re.findall(r"\bvoid\s+(\w+)\s*\(", bare)
        if SYMBOL in bare:
            return (f"{SYMBOL} is not defined with the ABI's signature: void {SYMBOL}(int M, int N, int K, "
                    "const float *A, int lda, const float *B, int ldb, float *C, int ldc)")
        return (f"the code does not define the required function {SYMBOL}"
                + (f" (it defines {', '.join(sorted(set(names))[:5])})" if names else "")
                + f"; the ABI is: void {SYMBOL}(int M, int N, int K, const float *A, int lda, "
                  "const float *B, int ldb, float *C, int ldc)")
    for pat, what in FORBIDDEN_CALLS:
        m = re.search(pat, bare)
        if m:
            return f"rejected: the code contains {what.format(m.group(1) if m.groups() else m.group(0))}; " \
                   "kernels may only compute (no I/O, processes, network, environment or library math)"
    nocomments = re.sub(r"//[^\n]*", " ", re.sub(r"/\*.*?\*/", " ", code, flags=re.S))
    for pat, what in REFERENCE_PATTERNS:
        m = re.search(pat, nocomments)
        if m:
            return f"rejected: {what} ({m.group(0)!r}); the kernel must compute C from A and B only"
    return ""


def check_assembly(asm: str) -> str:
    m = re.search(ASM_SYSCALL, asm)
    if m:
        return f"rejected: the emitted assembly makes a system call ({m.group(0)!r})"
    return ""


def check_python(code: str) -> str:
    """Static checks on an assembly-emitting script (it also runs sandboxed)."""
    if not code.strip():
        return "the Python block is empty"
    try:
        compile(code, "<script>", "exec")
    except SyntaxError as e:
        return f"the Python script does not parse (line {e.lineno}: {e.msg}); it may be truncated"
    for pat in (r"\bimport\s+(socket|subprocess|urllib|http|requests|ctypes|shutil|multiprocessing)\b",
                r"\bfrom\s+(socket|subprocess|urllib|http|requests|ctypes|shutil|multiprocessing)\b",
                r"\bos\.(system|popen|exec\w*|spawn\w*|fork|remove|unlink|rmdir)\b", r"\b__import__\b",
                r"\beval\s*\(", r"\bexec\s*\("):
        m = re.search(pat, code)
        if m:
            return f"rejected: the script uses {m.group(0)!r}; it may only compute and write the assembly file"
    return ""
