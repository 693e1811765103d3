"""This host's L2 and L3 load-to-use latencies in core cycles, measured once per host by
latency_probe.c (a pointer chase, the clock from dependent multiplies) and kept in the cache:
what `memory: host` models the validation device with, beside the cache sizes from sysfs.

None where it cannot be measured (not x86-64, no C compiler, the probe failed): the caller keeps
its table's latencies.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.workspace import Workspace

PROBE_SOURCE = Path(__file__).with_name("latency_probe.c")
PROBE_CLOCK = Path(__file__).with_name("cycle_clock.h")      # the probe includes it


@dataclass(frozen=True)
class HostLatency:
    ghz: float
    l2: float
    l3: float | None


def _key(l2_bytes: int, l3_bytes: int | None) -> str:
    try:
        cpu = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        cpu = ""
    text = f"{cpu}|{l2_bytes}|{l3_bytes}|{PROBE_SOURCE.read_bytes().hex()}|{PROBE_CLOCK.read_bytes().hex()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _probe_sizes(l2_bytes: int, l3_bytes: int | None) -> list[int]:
    sizes = [l2_bytes // 4]      # mostly in L2, little in L1, none spilled by page colours
    # a few times L2, well inside L3 (and inside the second-level TLB's reach)
    if l3_bytes and l3_bytes >= 4 * l2_bytes:
        sizes.append(min(3 * l2_bytes, l3_bytes // 2))
    return sizes


def _run_probe(sizes: list[int]) -> HostLatency | None:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    with tempfile.TemporaryDirectory(prefix="tensorop-latency-") as d:
        exe = Path(d) / "latency_probe"
        try:
            subprocess.run([cc, "-O2", str(PROBE_SOURCE), "-o", str(exe)], check=True,
                           capture_output=True, timeout=60)
            out = subprocess.run([str(exe), *map(str, sizes)], check=True, capture_output=True,
                                 text=True, timeout=60).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return None
    vals = dict(zip(out[::2], out[1::2]))
    try:
        got = HostLatency(float(vals["ghz"]), float(vals["l2"]), float(vals["l3"]) if "l3" in vals else None)
    except (KeyError, ValueError):
        return None
    return got if plausible(got) else None


def plausible(lat: HostLatency) -> bool:
    """A reading a busy or odd machine can give is not kept (the table's latencies stay)."""
    return (0.5 <= lat.ghz <= 8 and 4 <= lat.l2 <= 80
            and (lat.l3 is None or lat.l2 < lat.l3 <= 600))


@lru_cache(maxsize=None)
def host_latency(l2_bytes: int, l3_bytes: int | None) -> HostLatency | None:
    """Measured on first use for this CPU and these cache sizes, then read from the cache;
    TENSOROP_HOST_LATENCY=GHZ:L2[:L3] (cycles) gives them instead, to model with known latencies
    (the test suite: a probe taken while tests load the machine reads what the load makes it)."""
    pinned = os.environ.get("TENSOROP_HOST_LATENCY", "").strip()
    if pinned:
        try:
            v = [float(x) for x in pinned.split(":")]
            got = HostLatency(v[0], v[1], v[2] if len(v) > 2 else None)
        except (ValueError, IndexError):
            raise ValueError(f"TENSOROP_HOST_LATENCY={pinned!r}: expected GHZ:L2[:L3], e.g. 4.0:19:141") from None
        if len(v) > 3 or not plausible(got):
            raise ValueError(f"TENSOROP_HOST_LATENCY={pinned!r}: expected GHZ:L2[:L3] within "
                             "0.5-8 GHz, 4-80 and up to 600 cycles, L2 < L3")
        return got
    path = Workspace.discover().cache / "host_latency" / f"{_key(l2_bytes, l3_bytes)}.json"
    try:
        d = json.loads(path.read_text())
        cached = HostLatency(d["ghz"], d["l2"], d.get("l3"))
        if plausible(cached):
            return cached
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # twice, the lower of each: a co-tenant or a parallel test can only make a reading slower
    runs = [r for r in (_run_probe(_probe_sizes(l2_bytes, l3_bytes)) for _ in range(2)) if r]
    if not runs:
        return None
    got = HostLatency(max(r.ghz for r in runs), min(r.l2 for r in runs),
                      min((r.l3 for r in runs if r.l3), default=None))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(got.__dict__))
        tmp.replace(path)
    except OSError:
        pass
    return got
