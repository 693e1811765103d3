"""Results store: one SQLite database (results/tensorop.db), one row per trial.

Each trial is committed before the next starts (WAL mode, synchronous=FULL), so a killed run
loses nothing that was measured. Raw samples and statistics are stored side by side.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from .records import Status, Summary, Trial

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    campaign TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL,
    arch TEXT, emulated INTEGER, transport TEXT,
    kernel TEXT NOT NULL, source_hash TEXT,
    op TEXT NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT,
    toolchain TEXT, toolchain_version TEXT, cflags TEXT, command TEXT,
    max_rel_err REAL,
    samples TEXT, inner_loops INTEGER,
    n INTEGER, median_s REAL, ci_lo_s REAL, ci_hi_s REAL, ci_level REAL, min_s REAL, mean_s REAL,
    std_s REAL, cv REAL, outliers INTEGER,
    gflops REAL, insns INTEGER, flushed INTEGER,
    build_log TEXT, meta TEXT
);
CREATE INDEX IF NOT EXISTS trials_by_key ON trials (device, op, shape, dtype, kernel);
CREATE INDEX IF NOT EXISTS trials_by_campaign ON trials (campaign);
"""

COLUMNS = ("created_at", "campaign", "device", "arch", "emulated", "transport", "kernel", "source_hash",
           "op", "shape", "dtype", "status", "error", "toolchain", "toolchain_version", "cflags", "command",
           "max_rel_err", "samples", "inner_loops", "n", "median_s", "ci_lo_s", "ci_hi_s", "ci_level",
           "min_s", "mean_s", "std_s", "cv", "outliers", "gflops", "insns", "flushed", "build_log", "meta")


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_metadata() -> dict:
    """What the host was doing: CPU model, load, time. Stored with every trial."""
    cpu = _cpu_model()
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "load": list(load),
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, t: Trial) -> int:
        s = t.summary
        t.created_at = t.created_at or time.strftime("%Y-%m-%dT%H:%M:%S")
        meta = {**host_metadata(), **t.meta}
        row = (
            t.created_at, t.campaign, t.device, t.arch, int(t.emulated), t.transport, t.kernel, t.source_hash,
            t.op, "x".join(map(str, t.shape)), t.dtype, t.status.value, t.error, t.toolchain, t.toolchain_version,
            json.dumps(list(t.cflags)), json.dumps(list(t.command)), t.max_rel_err,
            json.dumps(list(t.samples)), t.inner_loops,
            s.n if s else 0, s.median if s else None, s.ci_lo if s else None, s.ci_hi if s else None,
            s.ci_level if s else None, s.minimum if s else None, s.mean if s else None, s.std if s else None,
            s.cv if s else None, s.outliers if s else None,
            t.gflops, t.insns, int(t.flushed), t.build_log, json.dumps(meta, default=str),
        )
        with self.db:   # one transaction per trial, committed on exit
            cur = self.db.execute(
                f"INSERT INTO trials ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", row)
        t.id = cur.lastrowid
        return t.id

    def set_meta(self, t: Trial, **items) -> None:
        """Add items to a stored trial's meta (e.g. the paired comparison measured after it)."""
        t.meta.update(items)
        with self.db:
            self.db.execute("UPDATE trials SET meta = ? WHERE id = ?",
                            (json.dumps({**host_metadata(), **t.meta}, default=str), t.id))

    def trials(self, where: str = "", params: tuple = (), order: str = "id") -> Iterator[Trial]:
        q = f"SELECT id, {', '.join(COLUMNS)} FROM trials {('WHERE ' + where) if where else ''} ORDER BY {order}"
        for r in self.db.execute(q, params):
            yield _trial(r)

    def finished_keys(self, campaign: str) -> set[tuple[str, str, str, str]]:
        """(device, kernel source hash, op, shape) of the trials a campaign already finished."""
        q = "SELECT device, source_hash, op, shape FROM trials WHERE campaign = ?"
        return {tuple(r) for r in self.db.execute(q, (campaign,))}


def _trial(r) -> Trial:
    d = dict(zip(("id", *COLUMNS), r))
    summary = None
    if d["n"] and d["median_s"] is not None:
        summary = Summary(n=d["n"], median=d["median_s"], ci_lo=d["ci_lo_s"], ci_hi=d["ci_hi_s"],
                          ci_level=d["ci_level"] or 0.0, minimum=d["min_s"], mean=d["mean_s"], std=d["std_s"],
                          cv=d["cv"], outliers=d["outliers"] or 0)
    return Trial(
        id=d["id"], created_at=d["created_at"], campaign=d["campaign"], device=d["device"], arch=d["arch"] or "",
        emulated=bool(d["emulated"]), transport=d["transport"] or "", kernel=d["kernel"],
        source_hash=d["source_hash"] or "", op=d["op"], shape=tuple(int(x) for x in d["shape"].split("x")),
        dtype=d["dtype"], status=Status(d["status"]), error=d["error"] or "", toolchain=d["toolchain"] or "",
        toolchain_version=d["toolchain_version"] or "", cflags=tuple(json.loads(d["cflags"] or "[]")),
        command=tuple(json.loads(d["command"] or "[]")), max_rel_err=d["max_rel_err"],
        samples=tuple(json.loads(d["samples"] or "[]")), inner_loops=d["inner_loops"] or 0, summary=summary,
        gflops=d["gflops"], insns=d["insns"], flushed=bool(d["flushed"]), build_log=d["build_log"] or "",
        meta=json.loads(d["meta"] or "{}"),
    )
