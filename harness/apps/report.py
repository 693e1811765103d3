"""`tensorop report`: tables of the results database (rich, Markdown, CSV)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from harness.apps.common import err, load_lab, out, resolve_devices
from harness.apps.options import ConfigOpt, DeviceOpt
from harness.campaign import report as rep
from harness.campaign.store import Store


def report(fmt: str = typer.Option("table", "--format", "-f", help="table | md | csv"),
           device: Optional[List[str]] = DeviceOpt, campaign: Optional[str] = typer.Option(None),
           all_trials: bool = typer.Option(False, "--all", help="Every trial, not just the latest per kernel."),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file."),
           history: Optional[str] = typer.Option(None, "--history", help="One kernel's figure over every stored "
                                                 "run (and imported ones), with the commits it came from."),
           chart: Optional[Path] = typer.Option(None, "--chart", help="With --history: plot it to this PNG."),
           devices_file: Optional[Path] = ConfigOpt):
    """Table of the results database (latest trial per device, kernel and shape)."""
    lab = load_lab(devices_file)
    if not lab.ws.database.exists():
        err.print(f"no results yet ({lab.ws.database}); run `tensorop bench` or `tensorop baseline` first")
        raise typer.Exit(1)
    with Store(lab.ws.database) as store:
        names = resolve_devices(lab, device) if device else None
        trials = list(store.trials(campaign=campaign, devices=names))
        baselines = store.baselines()
    if history:
        rows = rep.history(trials, history)
        if not rows:
            err.print(f"[red]error:[/red] no stored trial of kernel {history!r}")
            raise typer.Exit(2)
        if chart:
            rep.history_chart(trials, history, chart)
            err.print(f"chart: {chart}", highlight=False)
        table = Table(title=f"history of {history}")
        for h in rep.HISTORY_HEADERS:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        (Console(file=output.open("w"), width=200) if output else out).print(table)
        return
    chosen = trials if all_trials else rep.latest(trials)
    rows = rep.with_ratios(chosen, baselines)
    if fmt == "table":
        if output:
            Console(file=output.open("w"), width=200).print(rep.rich_table(rows))
        else:
            rep.print_table(rows, console=out)
        return
    text = {"md": rep.markdown, "csv": rep.csv_text}.get(fmt)
    if text is None:
        err.print(f"[red]error:[/red] unknown format {fmt!r}; use table, md or csv")
        raise typer.Exit(2)
    if output:
        output.write_text(text(rows))
    else:
        sys.stdout.write(text(rows))
