"""What every command module shares: the consoles, the workspace's lab loaded with a clear error
(exit status 2), the device, op and shape arguments resolved or refused the same way."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from harness.config.lab import Lab
from harness.config.yamlfile import ConfigError
from harness.ops import Op, UnknownOp, get_op

# Piped output keeps whole rows rather than folding them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(text: str, code: int = 2):
    """Print `error: text` and leave with `code` (2: bad input, so CI can tell it from a failed trial)."""
    err.print(f"[red]error:[/red] {text}", highlight=False)
    raise typer.Exit(code)


def load_lab(devices_file: Optional[Path]) -> Lab:
    try:
        return Lab.load(devices_file=devices_file)
    except ConfigError as e:
        fail(str(e))


def resolve_devices(lab: Lab, names: Optional[List[str]]) -> list[str]:
    if not names:
        return ["host"] if "host" in lab.devices else [next(iter(lab.devices))]
    try:
        return [lab.device(n).name for n in names]
    except ConfigError as e:
        fail(str(e))


def op_of(op: str, dtype: str) -> Op:
    try:
        return get_op(op, dtype)
    except UnknownOp as e:
        fail(str(e))


def shape_of(op: str | Op, dtype: str, shape: str) -> tuple[int, ...]:
    o = op if isinstance(op, Op) else op_of(op, dtype)
    try:
        return o.parse_shape(shape)
    except ValueError as e:
        fail(f"{e} ({o.name} shapes: {o.shape_syntax})")
