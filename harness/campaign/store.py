"""Results store: one SQLite database (results/tensorop.db), one row per trial.

Each trial is committed before the next starts (WAL mode, synchronous=FULL), so a killed run
loses nothing that was measured. Raw samples and statistics are stored side by side.

The columns are derived from the `records.Trial` dataclass: one column per field (the nested
`Summary` flattened into its own columns, tuples/lists/dicts stored as JSON, booleans as
integers), so a field added to Trial becomes a column without touching this file. Databases
outlive versions: opening an older one adds the missing columns (ALTER TABLE) and records the
schema version in `PRAGMA user_version`. Callers never pass SQL: the queries live behind the
methods of `Store`.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness.core.records import Status, Summary, Trial
from harness.backends.cpu.probe import host_cpu_model

# 1: the hand-written schema (no user_version set, so it reads as 0); 2: columns derived from Trial.
SCHEMA_VERSION = 2

# Summary fields whose column name predates the derivation (kept so old databases and queries work).
SUMMARY_COLUMNS = {"median": "median_s", "ci_lo": "ci_lo_s", "ci_hi": "ci_hi_s", "minimum": "min_s",
                   "mean": "mean_s", "std": "std_s"}


class StoreError(Exception):
    pass


@dataclass(frozen=True)
class Column:
    name: str                               # the SQL column
    sql_type: str                           # TEXT | INTEGER | REAL
    not_null: bool
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _json_tuple(v) -> tuple:
    return tuple(json.loads(v)) if v else ()


def _codec(annotation: str) -> tuple[str, Callable, Callable]:
    """SQL type and (encode, decode) for a dataclass field annotation (a string: records.py
    uses `from __future__ import annotations`)."""
    a = annotation.replace(" ", "")
    if a.startswith("Status"):
        return "TEXT", lambda v: Status(v).value, Status
    if a.startswith("bool"):
        return "INTEGER", lambda v: int(bool(v)), bool
    if a.startswith("int"):
        return "INTEGER", lambda v: v, lambda v: v
    if a.startswith("float"):
        return "REAL", lambda v: v, lambda v: v
    if a.startswith("str"):
        return "TEXT", lambda v: v, lambda v: v
    if a.startswith("tuple"):
        return "TEXT", lambda v: json.dumps(list(v), default=str), _json_tuple
    if a.startswith("list"):
        return "TEXT", lambda v: json.dumps(list(v), default=str), lambda v: json.loads(v) if v else []
    if a.startswith("dict"):
        return "TEXT", lambda v: json.dumps(v, default=str), lambda v: json.loads(v) if v else {}
    return "TEXT", lambda v: json.dumps(v, default=str), lambda v: json.loads(v) if v else None


# Fields stored in a form of their own (the shape is kept as "MxNxK", which tables and indexes use).
SPECIAL = {"shape": ("TEXT", lambda v: "x".join(map(str, v)), lambda v: tuple(int(x) for x in v.split("x")))}


def _columns() -> tuple[Column, ...]:
    out = []
    for f in fields(Trial):
        if f.name == "id":
            continue
        if f.name == "summary":
            for sf in fields(Summary):
                sql, enc, dec = _codec(str(sf.type))
                out.append(Column(SUMMARY_COLUMNS.get(sf.name, sf.name), sql, False, enc, dec))
            continue
        sql, enc, dec = SPECIAL.get(f.name) or _codec(str(f.type))
        required = f.default is MISSING and f.default_factory is MISSING
        out.append(Column(f.name, sql, required, enc, dec))
    return tuple(out)


COLUMNS = _columns()
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
_SUMMARY_NAMES = {sf.name: SUMMARY_COLUMNS.get(sf.name, sf.name) for sf in fields(Summary)}


def _create_sql() -> str:
    cols = ",\n    ".join(f"{c.name} {c.sql_type}" + (" NOT NULL" if c.not_null else "") +
                          (" NOT NULL DEFAULT ''" if c.name == "campaign" else "") for c in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS trials (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n    {cols}\n);"


INDEXES = ("CREATE INDEX IF NOT EXISTS trials_by_key ON trials (device, op, shape, dtype, kernel)",
           "CREATE INDEX IF NOT EXISTS trials_by_campaign ON trials (campaign)")


def host_metadata() -> dict:
    """What the host was doing: CPU model, load, time. Stored with every trial."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"host": platform.node(), "cpu": host_cpu_model(), "cores": os.cpu_count(), "load": list(load),
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def job_key(device: str, kernel: str, source_hash: str, op: str, shape, dtype: str) -> tuple:
    """What identifies a job of a campaign: the same kernel source on the same device and problem."""
    return (device, kernel, source_hash, op, tuple(shape), dtype)


def _job_key(t: Trial) -> tuple:
    return job_key(t.device, t.kernel, t.source_hash, t.op, t.shape, t.dtype)


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Create the table, or bring an older one up to date: add the columns it lacks."""
        self.db.execute("BEGIN IMMEDIATE")      # one process migrates at a time
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} is newer than this tensorop "
                                 f"understands ({SCHEMA_VERSION}); upgrade tensorop")
            self.db.execute(_create_sql())
            have = {r[1] for r in self.db.execute("PRAGMA table_info(trials)")}
            for c in COLUMNS:
                if c.name not in have:    # ALTER TABLE cannot add NOT NULL without a default
                    self.db.execute(f"ALTER TABLE trials ADD COLUMN {c.name} {c.sql_type}")
            for stmt in INDEXES:
                self.db.execute(stmt)
            if version != SCHEMA_VERSION:
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing --------------------------------------------------------------------------
    def add(self, t: Trial, *, imported: bool = False) -> int:
        """Store a trial (its id set); `imported`: a trial read from an exported file keeps its
        own time and host metadata."""
        t.created_at = t.created_at or time.strftime("%Y-%m-%dT%H:%M:%S")
        if not imported:
            t.meta = {**host_metadata(), **t.meta}
        encoded = trial_row(t)
        row = [encoded[c.name] for c in COLUMNS]
        with self.db:   # one transaction per trial, committed on exit
            cur = self.db.execute(
                f"INSERT INTO trials ({', '.join(COLUMN_NAMES)}) VALUES ({', '.join('?' * len(COLUMNS))})", row)
        t.id = cur.lastrowid
        return t.id

    def set_meta(self, t: Trial, **items) -> None:
        """Add items to a stored trial's meta (e.g. the paired comparison measured after it)."""
        t.meta.update(items)
        with self.db:
            self.db.execute("UPDATE trials SET meta = ? WHERE id = ?",
                            (json.dumps({**host_metadata(), **t.meta}, default=str), t.id))

    # -- reading --------------------------------------------------------------------------
    def _select(self, where: list[str], params: list, order: str = "id") -> Iterator[Trial]:
        q = f"SELECT id, {', '.join(COLUMN_NAMES)} FROM trials" + \
            (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {order}"
        for r in self.db.execute(q, params):
            yield _trial(r)

    def trials(self, *, campaign: str | None = None, devices: Iterable[str] | None = None,
               kernel: str | None = None, status: Status | None = None) -> Iterator[Trial]:
        """Every stored trial matching all the given filters, oldest first."""
        where, params = [], []
        if campaign is not None:
            where.append("campaign = ?")
            params.append(campaign)
        if devices is not None:
            names = list(devices)
            where.append(f"device IN ({','.join('?' * len(names))})")
            params += names
        if kernel is not None:
            where.append("kernel = ?")
            params.append(kernel)
        if status is not None:
            where.append("status = ?")
            params.append(Status(status).value)
        return self._select(where, params)

    def campaign_trials(self, campaign: str) -> list[Trial]:
        """The result set of a campaign: the latest trial of each job (a re-run after a
        device_error replaces it), in the order the jobs were first tried."""
        latest: dict[tuple, Trial] = {}
        for t in self.trials(campaign=campaign):     # oldest first: a later trial replaces an earlier one
            latest[_job_key(t)] = t
        return list(latest.values())

    def unfinished(self, campaign: str, keys: list[tuple]) -> list[int]:
        """Indexes of the job keys (store.job_key) whose latest trial in `campaign` is missing, a
        device_error or an internal_error: what `--resume` runs again."""
        rerun = (Status.DEVICE_ERROR, Status.INTERNAL_ERROR)
        done = {_job_key(t) for t in self.campaign_trials(campaign) if t.status not in rerun}
        return [i for i, k in enumerate(keys) if k not in done]

    def baselines(self, kernel: str = "openblas") -> list[Trial]:
        """Every ok trial of a baseline kernel (report.with_ratios picks the latest per problem)."""
        return list(self.trials(kernel=kernel, status=Status.OK))

    def latest_baseline(self, device: str, op: str, shape: tuple[int, ...], dtype: str,
                        kernel: str = "openblas") -> Trial | None:
        """The newest ok trial of a baseline on one device and problem, or None."""
        rows = list(self._select(["kernel = ?", "status = ?", "device = ?", "op = ?", "shape = ?", "dtype = ?"],
                                 [kernel, Status.OK.value, device, op, "x".join(map(str, shape)), dtype],
                                 order="id DESC LIMIT 1"))
        return rows[0] if rows else None

    def latest_campaign(self, exclude_prefix: str = "generate-") -> str | None:
        """The campaign of the most recently stored trial (`--resume last`), skipping those of
        `tensorop generate` (which cannot be resumed by bench)."""
        for (c,) in self.db.execute("SELECT campaign FROM trials WHERE campaign != '' ORDER BY id DESC"):
            if not (exclude_prefix and c.startswith(exclude_prefix)):
                return c
        return None


def trial_row(t: Trial) -> dict[str, Any]:
    """A trial as its stored columns (name -> SQL value: text, integer, real or None); what the
    database holds and what `tensorop export` writes."""
    values = {}
    for f in fields(Trial):
        if f.name in ("id", "summary"):
            continue
        values[f.name] = getattr(t, f.name)
    for name, col in _SUMMARY_NAMES.items():
        values[col] = getattr(t.summary, name) if t.summary else None
    if not t.summary:
        values["n"] = 0
    return {c.name: None if values[c.name] is None else c.encode(values[c.name]) for c in COLUMNS}


def trial_from_row(d: dict[str, Any], trial_id: int | None = None) -> Trial:
    """The inverse of trial_row; a column the row lacks takes the field's default (a row of an
    older schema). Raises StoreError naming the column when a required one is missing or bad."""
    d = {c: d.get(c) for c in COLUMN_NAMES}
    missing = [c.name for c in COLUMNS if c.not_null and d.get(c.name) is None]
    if missing:
        raise StoreError(f"a trial lacks the required field(s) {', '.join(missing)}")
    try:
        return _trial((trial_id, *(d[c] for c in COLUMN_NAMES)))
    except (TypeError, ValueError, KeyError) as e:
        raise StoreError(f"a trial has a field of the wrong form: {e}") from e


def _trial(r) -> Trial:
    d = dict(zip(("id", *COLUMN_NAMES), r))
    kw: dict[str, Any] = {"id": d["id"]}
    defaults = {f.name: f for f in fields(Trial)}
    for c in COLUMNS:
        if c.name not in defaults:
            continue                          # a Summary column
        v = d[c.name]
        if v is None:
            f = defaults[c.name]
            if f.default is not MISSING:
                kw[c.name] = f.default
            elif f.default_factory is not MISSING:
                kw[c.name] = f.default_factory()
            continue
        kw[c.name] = c.decode(v)
    if d["n"] and d["median_s"] is not None:
        vals = {name: d[col] for name, col in _SUMMARY_NAMES.items()}
        vals["ci_level"] = vals["ci_level"] or 0.0
        vals["outliers"] = vals["outliers"] or 0
        kw["summary"] = Summary(**vals)
    return Trial(**kw)
