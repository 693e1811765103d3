"""Results as a portable file (`tensorop export` / `tensorop import`), so a CI job can keep a
campaign as an artifact and compare a later run with it.

The file is JSON: {"format": "tensorop-results", "version": 1, "schema": <store schema>,
"campaigns": [...], "exported_at": ..., "trials": [<one object per trial: the store's columns>]}.
A trial's columns are exactly what the results database holds (store.trial_row), so an import is
the same trial, provenance (meta["provenance"]) and host metadata included. A file of a newer
format or store schema than this tensorop reads is refused with the reason; an older store
schema is read with the missing fields at their defaults (as the database itself migrates)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from harness.campaign.store import SCHEMA_VERSION, Store, StoreError, trial_from_row, trial_row
from harness.core.records import Trial

FORMAT = "tensorop-results"
VERSION = 1
MAX_FILE = 256 << 20


class ExchangeError(Exception):
    """A results file that cannot be read: the message says why (and names the file)."""


def export_trials(trials: list[Trial]) -> dict:
    """The exported form of these trials."""
    return {"format": FORMAT, "version": VERSION, "schema": SCHEMA_VERSION,
            "campaigns": sorted({t.campaign for t in trials}),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "trials": [trial_row(t) for t in trials]}


def write_export(path: Path, trials: list[Trial]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(export_trials(trials), indent=1) + "\n")
    tmp.replace(path)


def read_export(path: Path) -> list[Trial]:
    """The trials of an exported file; ExchangeError naming the file and the reason otherwise."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise ExchangeError(f"{path}: larger than {MAX_FILE >> 20} MiB; not a tensorop results file")
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExchangeError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ExchangeError(f"{path}: cannot read it: {e}") from None
    except json.JSONDecodeError as e:
        raise ExchangeError(f"{path}: not JSON ({e}); expected a file written by `tensorop export`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExchangeError(f"{path}: not a tensorop results file (no \"format\": \"{FORMAT}\")")
    version, schema = doc.get("version"), doc.get("schema")
    if not isinstance(version, int) or version > VERSION:
        raise ExchangeError(f"{path}: results file version {version!r} is newer than this tensorop reads "
                            f"({VERSION}); upgrade tensorop")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise ExchangeError(f"{path}: written with results schema {schema!r}, newer than this tensorop's "
                            f"({SCHEMA_VERSION}); upgrade tensorop")
    rows = doc.get("trials")
    if not isinstance(rows, list):
        raise ExchangeError(f"{path}: \"trials\" is not a list")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ExchangeError(f"{path}: trial {i} is not an object")
        try:
            out.append(trial_from_row(row))
        except StoreError as e:
            raise ExchangeError(f"{path}: trial {i}: {e}") from None
    return out


def import_trials(store: Store, trials: list[Trial]) -> tuple[int, list[str]]:
    """Store the trials of an exported file; a campaign the database already holds is skipped
    (importing the same file twice adds nothing). Returns (trials added, campaigns skipped)."""
    have = {c for c in {t.campaign for t in trials} if c and next(store.trials(campaign=c), None) is not None}
    added = 0
    for t in trials:
        if t.campaign in have:
            continue
        t.id = None
        store.add(t, imported=True)
        added += 1
    return added, sorted(have)
