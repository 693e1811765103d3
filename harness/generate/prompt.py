"""Prompt understanding: one line of text -> Task (op, shape, dtype) and devices.

The deterministic parser always works offline; when an LLM is configured it is asked first
(parse_with_llm) and its answer is validated against the same rules, falling back to the
deterministic parse on any problem.
"""
from __future__ import annotations

import json
import re

from harness.config.devices import Device
from harness.config.yamlfile import ConfigError
from harness.ops import all_ops, get_op
from harness.ops import gemm
from harness.generate.base import Task
from harness.config.boards import all_labels
from harness.config.devices import find_device

DEFAULT_PROMPT = "Generate a 256x256x256 f32 GEMM on host, rv64-qemu and arm64-qemu"
OPS = {"gemm": "gemm", "sgemm": "gemm", "matmul": "gemm", "matrix multiplication": "gemm",
       "matrix multiply": "gemm", "mm": "gemm"}
DTYPES = [(r"\b(f16|fp16|half|hgemm)\b", "f16"), (r"\b(bf16|bfloat16)\b", "bf16"),
          (r"\b(i8|int8|s8|igemm)\b", "i8"),
          (r"\b(f64|fp64|double|dgemm)\b", "f64"), (r"\b(f32|fp32|float32|float|single|sgemm)\b", "f32")]
SUPPORTED = {("gemm", "f32")}


class PromptError(ValueError):
    pass


def _known(devices: dict[str, Device]) -> str:
    return ", ".join(f"{d.name} ({', '.join(d.aliases)})" if d.aliases else d.name for d in devices.values())


def match_devices(text: str, devices: dict[str, Device], notify=None) -> list[str]:
    """Device names mentioned in text (by name or alias, or a board name: harness.config.boards),
    in order of appearance; the longest label wins where labels overlap. A board that is not
    configured resolves to its closest emulated device (notice to `notify`) or raises PromptError
    saying what it needs."""
    labels = []
    for d in devices.values():
        for label in (d.name, *d.aliases):
            labels.append((label, d.name))
    configured = {l.lower() for l, _ in labels}
    for label, board in all_labels():
        if label not in configured:
            labels.append((label, f"board:{label}"))
    labels.sort(key=lambda x: -len(x[0]))
    hits: list[tuple[int, int, str]] = []
    low = text.lower()
    for label, name in labels:
        pat = r"(?<![\w-])" + re.escape(label.lower()) + r"(?![\w-])"
        for m in re.finditer(pat, low):
            if any(s <= m.start() < e or s < m.end() <= e for s, e, _ in hits):
                continue
            hits.append((m.start(), m.end(), name))
    out = []
    for _, _, name in sorted(hits):
        if name.startswith("board:"):
            try:
                name = find_device(devices, name[6:], notify).name
            except ConfigError as e:
                raise PromptError(str(e)) from None
        if name not in out:
            out.append(name)
    return out


def parse_shape_text(text: str) -> tuple[int, int, int] | None:
    """The shape somewhere in free text: the explicit forms are found here and read by the op's
    own parser (ops.gemm.parse_shape); "MxN" and a lone size are prompt-only shorthands."""
    t = text.replace("×", "x").replace("*", "x")
    m = re.search(r"(\d+)\s*x\s*(\d+)\s*x\s*(\d+)", t, re.I)
    if m:
        return gemm.parse_shape("x".join(m.groups()))
    kv = dict((k.lower(), v) for k, v in re.findall(r"\b([MNKmnk])\s*=\s*(\d+)", t))
    if set(kv) == {"m", "n", "k"}:
        return gemm.parse_shape(",".join(f"{k}={v}" for k, v in kv.items()))
    m = re.search(r"(\d+)\s*x\s*(\d+)(?!\s*x)", t, re.I)
    if m:    # MxN with square K? take "M x N" as M=N=K when square, else K=N
        a, b = int(m.group(1)), int(m.group(2))
        return a, b, b
    m = re.search(r"\b(\d{2,5})\b(?:\s*(?:square|cube|\^3))?", t)
    if m:
        n = int(m.group(1))
        return n, n, n
    return None


def parse_prompt(text: str, devices: dict[str, Device], default_devices: tuple[str, ...] = (), notify=None) -> Task:
    """Deterministic parse. Raises PromptError with a helpful message."""
    low = text.lower()
    op = "gemm"
    words = sorted(((w, o.name) for o in all_ops() for w in o.prompt_words), key=lambda x: -len(x[0]))
    for word, name in [*words, *OPS.items()]:
        if re.search(r"\b" + re.escape(word) + r"\b", low):
            op = name
            break
    dtype = "f32"
    for pat, name in DTYPES:
        if re.search(pat, low):
            dtype = name
            break
    # device labels may contain digits (rv64, K1): take them out before reading the shape
    devs = match_devices(text, devices, notify)
    stripped = text
    for label in sorted([l for d in devices.values() for l in (d.name, *d.aliases)] + [l for l, _ in all_labels()],
                        key=len, reverse=True):
        stripped = re.sub(r"(?<![\w-])" + re.escape(label) + r"(?![\w-])", " ", stripped, flags=re.I)
    try:
        the_op = get_op(op, dtype)
    except ValueError as e:
        raise PromptError(str(e)) from None
    try:
        shape = parse_shape_text(stripped) if op == "gemm" else the_op.parse_prompt_shape(stripped)
    except ValueError as e:
        raise PromptError(str(e)) from None
    if shape is None:
        raise PromptError(f"no shape found in {text!r}; write it as {the_op.shape_syntax}, e.g. "
                          f"{the_op.shape_example}")
    if op == "gemm" and (min(shape) <= 0 or max(shape) > 1 << 16):
        raise PromptError(f"shape {shape} out of range (1..65536)")
    if not devs:
        if default_devices:
            devs = list(default_devices)
        else:
            raise PromptError(f"no known device named in {text!r}; known devices: {_known(devices)}")
    return Task(op=op, shape=shape, dtype=dtype, devices=tuple(devs), prompt=text)


PARSE_SYSTEM = ("You turn a one-line request for a tensor operator into JSON. Reply with only a JSON object: "
                '{"op": "gemm"|"conv2d"|"gemm_batched", "M": int, "N": int, "K": int (gemm), '
                '"shape": "NxCxHxW,KxRxS,sSTRIDE,pPAD" (conv2d) or "BATCHxMxNxK" (gemm_batched), '
                '"dtype": "f32"|"f16"|"bf16"|"i8", '
                '"devices": [device names or aliases exactly as written in the request]}.')


def parse_with_llm(text: str, devices: dict[str, Device], llm) -> Task | None:
    """Ask the LLM; None if its answer is invalid (the caller falls back to parse_prompt).
    A failing endpoint (a bad key's 401, a dead server) raises LLMError: it would fail the
    generation too, so it is reported rather than hidden behind the fallback."""
    known = _known(devices)
    ans = llm.chat([{"role": "system", "content": PARSE_SYSTEM},
                    {"role": "user", "content": f"Known devices: {known}\nRequest: {text}"}], purpose="parse")
    try:
        m = re.search(r"\{.*\}", ans.text, re.S)
        data = json.loads(m.group(0)) if m else None
        if not isinstance(data, dict):
            return None
        op, dtype = str(data.get("op", "gemm")).lower(), str(data.get("dtype", "f32")).lower()
        op = OPS.get(op, op)
        the_op = get_op(op, dtype)
        if op == "gemm":
            shape = tuple(int(data[k]) for k in ("M", "N", "K"))
        else:
            shape = the_op.parse_shape(str(data["shape"]))
        names = []
        for label in data.get("devices") or []:
            try:
                names.append(find_device(devices, str(label)).name)
            except ConfigError:
                return None
        if not names or (op == "gemm" and min(shape) <= 0):
            return None
        return Task(op=the_op.name, shape=shape, dtype=dtype, devices=tuple(dict.fromkeys(names)), prompt=text)
    except (ValueError, KeyError, TypeError, AttributeError):   # not the JSON asked for
        return None
