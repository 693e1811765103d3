"""The results store: columns derived from records.Trial, the schema version and the migration
of a database made by the first (hand-written) schema, and the queries behind Store methods."""
from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from harness.core import records
from harness.campaign import store as store_mod
from harness.core.records import Status, Summary, Trial
from harness.campaign.store import SCHEMA_VERSION, Store, job_key

# The schema of tensorop's first databases (store.py before columns were derived), verbatim.
SCHEMA_V1 = """
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
V1_ROW = ("2024-01-01T00:00:00", "c-old", "host", "x86_64", 0, "local", "k.c", "abc", "gemm", "8x8x8", "f32", "ok",
          "", "host-cc", "gcc 12", '["-O3"]', '["./driver"]', 1e-7, "[0.001, 0.002]", 4, 2, 0.0015, 0.001, 0.002,
          0.95, 0.001, 0.0015, 0.0005, 0.3, 0, 1.5, None, 0, "", '{"cpu": "x"}')


def _trial(**kw) -> Trial:
    base = dict(device="host", op="gemm", shape=(8, 8, 8), dtype="f32", kernel="k.c", source_hash="abc",
                status=Status.OK, campaign="c1",
                summary=Summary(n=3, median=1e-3, ci_lo=9e-4, ci_hi=1.1e-3, ci_level=0.95, minimum=9e-4,
                                mean=1e-3, std=1e-4, cv=0.1, outliers=1),
                samples=(1e-3, 9e-4, 1.1e-3), cflags=("-O3",), cycles=1234.5, model="llvm-mca 19 (x)",
                meta={"note": "hi"})
    base.update(kw)
    return Trial(**base)


def test_round_trip_every_field(tmp_path):
    with Store(tmp_path / "t.db") as st:
        t = _trial()
        st.add(t)
        (back,) = list(st.trials())
    for f in dataclasses.fields(Trial):
        if f.name == "meta":
            assert back.meta["note"] == "hi" and "cpu" in back.meta    # host metadata added
        else:
            assert getattr(back, f.name) == getattr(t, f.name), f.name


def test_columns_follow_the_record(tmp_path, monkeypatch):
    """A field added to Trial becomes a column without editing store.py."""
    names = set(store_mod.COLUMN_NAMES)
    for f in dataclasses.fields(Trial):
        assert f.name in names or f.name in ("id", "summary"), f.name
    for f in dataclasses.fields(Summary):
        assert store_mod.SUMMARY_COLUMNS.get(f.name, f.name) in names

    @dataclasses.dataclass
    class Trial2(Trial):
        energy_j: float | None = None
        tags: tuple[str, ...] = ()
    monkeypatch.setattr(store_mod, "Trial", Trial2)
    monkeypatch.setattr(records, "Trial", Trial2)
    cols = store_mod._columns()
    monkeypatch.setattr(store_mod, "COLUMNS", cols)
    monkeypatch.setattr(store_mod, "COLUMN_NAMES", tuple(c.name for c in cols))
    with Store(tmp_path / "t.db") as st:       # an existing database gains the columns too
        st.add(Trial2(**{**dataclasses.asdict(_trial()), "summary": _trial().summary, "status": Status.OK,
                         "energy_j": 2.5, "tags": ("a", "b")}))
        (back,) = list(st.trials())
    assert back.energy_j == 2.5 and back.tags == ("a", "b")


def test_migrates_a_v1_database(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    cols = [r[1] for r in db.execute("PRAGMA table_info(trials)")][1:]
    db.execute(f"INSERT INTO trials ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", V1_ROW)
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()
    with Store(path) as st:
        (old,) = list(st.trials())
        assert old.campaign == "c-old" and old.summary.median == 0.0015 and old.samples == (0.001, 0.002)
        assert old.cycles is None and old.model == ""          # columns the v1 schema lacked
        st.add(_trial(campaign="c-new"))
        assert [t.campaign for t in st.trials()] == ["c-old", "c-new"]
        assert list(st.trials(campaign="c-new"))[0].cycles == 1234.5
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    have = {r[1] for r in db.execute("PRAGMA table_info(trials)")}
    assert set(store_mod.COLUMN_NAMES) <= have


def test_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(store_mod.StoreError, match="newer"):
        Store(path)


def test_campaign_result_set_is_latest_per_job(tmp_path):
    with Store(tmp_path / "t.db") as st:
        st.add(_trial(kernel="a.c", source_hash="a", status=Status.DEVICE_ERROR, summary=None))
        st.add(_trial(kernel="b.c", source_hash="b"))
        st.add(_trial(kernel="a.c", source_hash="a"))                 # the re-run after --resume
        st.add(_trial(kernel="c.c", source_hash="c", campaign="other"))
        res = st.campaign_trials("c1")
        assert [(t.kernel, t.status) for t in res] == [("a.c", Status.OK), ("b.c", Status.OK)]
        keys = [job_key("host", k, h, "gemm", (8, 8, 8), "f32") for k, h in (("a.c", "a"), ("b.c", "b"), ("d.c", "d"))]
        assert st.unfinished("c1", keys) == [2]
        st.add(_trial(kernel="b.c", source_hash="b", status=Status.DEVICE_ERROR, summary=None))
        assert st.unfinished("c1", keys) == [1, 2]
        assert st.latest_campaign() == "c1"
        st.add(_trial(campaign="generate-x"))
        assert st.latest_campaign() == "c1"


def test_latest_baseline(tmp_path):
    with Store(tmp_path / "t.db") as st:
        assert st.latest_baseline("host", "gemm", (8, 8, 8), "f32") is None
        st.add(_trial(kernel="openblas"))
        second = _trial(kernel="openblas")
        st.add(second)
        st.add(_trial(kernel="openblas", status=Status.DEVICE_ERROR, summary=None))
        assert st.latest_baseline("host", "gemm", (8, 8, 8), "f32").id == second.id
        assert len(st.baselines()) == 2
