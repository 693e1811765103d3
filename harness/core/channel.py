"""The private result channel (fd 3 of the timing driver), parsed strictly: exactly one driver
record (and one QEMU plugin record when the plugin ran); anything else is a forged or broken
channel, and the trial is `rejected`. Pure functions over the bytes a run brought back.

- `read_channel(run, want_plugin)`: the records, or why the channel breaks the protocol;
- `worker_crash(record, phase)`: '' unless the driver's timing worker (the process that runs the
  kernel) died, else why.
"""
from __future__ import annotations

import json
import signal as _signal
from dataclasses import dataclass

from harness.core.records import RunResult


MAX_RECORD = 32 << 20      # bytes of one record line (a timing run's samples are a few hundred kB)


@dataclass(frozen=True)
class Records:
    driver: dict | None
    plugin: dict | None
    error: str = ""          # set when the channel breaks the protocol


def read_channel(run: RunResult, want_plugin: bool) -> Records:
    driver = plugin = None
    try:
        text = run.channel.decode("utf-8")
    except UnicodeDecodeError:
        return Records(None, None, "the result channel holds bytes that are not text")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(line) > MAX_RECORD:
            return Records(None, None, f"result channel line {n} is longer than {MAX_RECORD} bytes")
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):      # not JSON, or nested too deep to parse
            return Records(None, None, f"result channel line {n} is not a JSON record")
        who = rec.get("tensorop") if isinstance(rec, dict) else None
        if who == "driver" and driver is None:
            driver = rec
        elif who == "plugin" and plugin is None and want_plugin:
            plugin = rec
        else:
            return Records(None, None, f"result channel line {n}: unexpected or repeated record "
                                       f"({str(who)[:20]!r}); the channel must hold exactly one record of each")
    if driver is None:
        return Records(None, None, "the driver wrote no result record")
    if want_plugin and plugin is None:
        return Records(driver, None, "the QEMU plugin wrote no record")
    return Records(driver, plugin)


def lib_note(rec: dict, key: str = "lib") -> dict[str, str]:
    """A library baseline's note in a driver record (baselines/tensorop_lib.h: "key=value; ..."; `lib`
    for the program's kernel, `lib_b` for a paired run's partner) as a dict; {} when there is none.
    It says which routine ran (`routine`), the library's version, threads and ISA path (`isa`), and
    `error` when the library took a path the comparison must not be made against."""
    text = rec.get(key)
    if not isinstance(text, str):
        return {}
    out = {}
    for part in text[:4096].split("; "):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            out[k.strip()] = v.strip()
    return out


def worker_crash(rec: dict, phase: str) -> str:
    """'' unless the driver's timing worker (the process that runs the kernel) died; else why."""
    crash = rec.get("crash")
    if not isinstance(crash, dict):
        return ""
    sig, code = crash.get("signal") or 0, crash.get("exit")
    if sig:
        try:
            name = _signal.Signals(int(sig)).name
        except (ValueError, TypeError):
            name = f"signal {sig}"
        why = " (a system call the worker's seccomp filter forbids)" if name == "SIGSYS" else ""
        return f"{phase}: the kernel's process was killed by {name}{why}"
    return f"{phase}: the kernel's process exited with status {code} while timed"


