"""`tensorop compare BASE HEAD` (campaign ids or exported files) and `tensorop compare
--base-ref R --head-ref R K.c ...`: did a change make any kernel slower, with a verdict per row
(campaign/regression.py) and an exit status a CI job can act on: 0 no regression, 1 a row slower
beyond the threshold or broken, 2 bad input."""
from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from harness.apps.common import err, fail, load_lab, out
from harness.apps.jobs import task_shapes
from harness.apps.options import ConfigOpt, DeviceOpt, DtypeOpt, OpOpt, ShapesOpt
from harness.campaign import regression
from harness.campaign.exchange import ExchangeError, read_export
from harness.campaign.refs import RefError, compare_refs
from harness.campaign.scheduler import Campaign
from harness.campaign.store import Store
from harness.core.records import Trial
from harness.core.workspace import Workspace


def _side(ws: Workspace, spec: str) -> list[Trial]:
    """A campaign id of the results database, or an exported file."""
    path = Path(spec)
    if path.suffix == ".json" or path.is_file():
        try:
            return read_export(path)
        except ExchangeError as e:
            fail(str(e))
    if not ws.database.exists():
        fail(f"no results database ({ws.database}) to find campaign {spec!r} in")
    with Store(ws.database) as store:
        if spec == "last":
            spec = store.latest_campaign() or spec
        trials = store.campaign_trials(spec)
    if not trials:
        fail(f"unknown campaign {spec!r} (not in {ws.database}, and no such file)")
    return trials


def compare(base: Optional[str] = typer.Argument(None, help="Base: a campaign id ('last' for the newest) or a "
                                                 "file written by `tensorop export`."),
            head: Optional[str] = typer.Argument(None, help="Head: a campaign id or an exported file."),
            base_ref: Optional[str] = typer.Option(None, "--base-ref", help="A git ref: measure the kernels' "
                                                   "sources at this commit ..."),
            head_ref: Optional[str] = typer.Option(None, "--head-ref", help="... and at this one, paired in one "
                                                   "campaign (give the kernel files with --kernel)."),
            kernel: List[Path] = typer.Option([], "--kernel", "-k", help="With --base-ref/--head-ref: a kernel "
                                              "file in a git work tree (repeatable)."),
            op: str = OpOpt, dtype: str = DtypeOpt, shape: Optional[List[str]] = ShapesOpt,
            device: Optional[List[str]] = DeviceOpt,
            threshold: Optional[float] = typer.Option(None, "--threshold", help="Slower beyond this fraction "
                                                      "fails (default 0.05 on host, 0.01 on emulated devices)."),
            fmt: str = typer.Option("table", "--format", "-f", help="table | md | json"),
            output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the table to a file."),
            chart: Optional[Path] = typer.Option(None, "--chart", help="Draw head/base speed per row to this PNG."),
            budget: float = typer.Option(60.0, "--budget", help="Seconds of paired timing per host comparison."),
            devices_file: Optional[Path] = ConfigOpt):
    """Compare two runs: per (device, op, shape, dtype, kernel) both figures, head's speed over base's
    with its CI, and a verdict (faster, slower, same, new, gone, broken, model, unpaired). Exit 1
    on a regression (slower beyond --threshold, or broken), 2 on bad input."""
    if fmt not in ("table", "md", "json"):
        fail(f"unknown format {fmt!r}; use table, md or json")
    th = regression.Thresholds() if threshold is None else regression.Thresholds(threshold, threshold)
    if base_ref or head_ref:
        if not (base_ref and head_ref):
            fail("give both --base-ref and --head-ref")
        if base or head:
            fail("give BASE HEAD or --base-ref/--head-ref, not both")
        if not kernel:
            fail("--base-ref/--head-ref need the kernel files to compare (--kernel K.c, repeatable)")
        lab = load_lab(devices_file)
        o, devs, per_dev = task_shapes(lab, op, dtype, shape, None, 1.0, device)
        with Store(lab.ws.database) as store, Campaign(lab, store) as c:
            err.print(f"campaign {c.id}: {base_ref} against {head_ref}", highlight=False)
            try:
                rows = compare_refs(c, kernel, base_ref, head_ref, devs, per_dev, o, th, budget_s=budget)
            except RefError as e:
                fail(str(e))
        title = f"tensorop compare {base_ref}..{head_ref}"
    else:
        if not (base and head):
            fail("give BASE and HEAD (campaign ids or exported files), or --base-ref and --head-ref")
        ws = Workspace.discover()
        b, h = _side(ws, base), _side(ws, head)
        moved = regression.device_mismatches(b, h)
        if moved:
            fail("the device configuration differs between base and head for " + ", ".join(moved) +
                 " (its devices.yaml entry changed): the figures are not comparable")
        rows = regression.compare_sets(b, h, th)
        title = f"tensorop compare {base}..{head}"
    if chart:
        regression.chart(rows, chart)
        err.print(f"chart: {chart}", highlight=False)
    if fmt == "table":
        with (output.open("w") if output else nullcontext()) as f:
            (Console(file=f, width=200) if f else out).print(regression.rich_table(rows))
    else:
        text = regression.markdown(rows, title) if fmt == "md" else regression.json_text(rows)
        if output:
            output.write_text(text)
            err.print(f"written: {output}", highlight=False)
        else:
            sys.stdout.write(text)
    err.print(regression.summary_line(rows), highlight=False)
    raise typer.Exit(regression.exit_status(rows))
