"""`tensorop export --campaign ID -o run.json` and `tensorop import run.json`: a campaign's
trials as a portable file (campaign/exchange.py), e.g. a CI job's baseline kept as an artifact."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from harness.apps.common import err, fail
from harness.campaign.exchange import ExchangeError, import_trials, read_export, write_export
from harness.campaign.store import Store
from harness.core.workspace import Workspace


def export(campaign: List[str] = typer.Option(..., "--campaign", "-c", help="Campaign id ('last': the newest; "
                                              "repeatable)."),
           output: Path = typer.Option(..., "--output", "-o", help="The file to write (JSON).")):
    """Write campaigns' trials (figures, samples, provenance) to a portable file."""
    ws = Workspace.discover()
    if not ws.database.exists():
        fail(f"no results database ({ws.database})")
    trials = []
    with Store(ws.database) as store:
        for cid in campaign:
            if cid == "last":
                cid = store.latest_campaign() or cid
            got = store.campaign_trials(cid)
            if not got:
                fail(f"unknown campaign {cid!r} (not in {ws.database})")
            trials += got
    write_export(output, trials)
    err.print(f"{len(trials)} trials of {', '.join(campaign)} written to {output}", highlight=False)


def import_(files: List[Path] = typer.Argument(..., help="Files written by `tensorop export`.")):
    """Add exported trials to the results database (a campaign it already holds is skipped)."""
    ws = Workspace.discover()
    with Store(ws.database) as store:
        for f in files:
            try:
                trials = read_export(f)
            except ExchangeError as e:
                fail(str(e))
            added, skipped = import_trials(store, trials)
            campaigns = sorted({t.campaign for t in trials})
            err.print(f"{f}: {added} trials imported ({', '.join(campaigns)})" +
                      (f"; already in the database: {', '.join(skipped)}" if skipped else ""), highlight=False)
