"""The `tensorop` command line: one module per command in harness/apps/, assembled here.
Commands call library functions (campaign, generate, tune, backends), never each other."""
from __future__ import annotations

import typer

from harness.apps.baseline import baseline
from harness.apps.bench import bench
from harness.apps.bench_suite import bench_suite
from harness.apps.boards import boards_app
from harness.apps.build import build
from harness.apps.compare import compare
from harness.apps.devices import devices_app
from harness.apps.examples import examples
from harness.apps.exchange import export, import_
from harness.apps.generate import generate
from harness.apps.model import model_app
from harness.apps.report import report
from harness.apps.tune import tune

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="markdown",
                  help="Generate, verify and measure tensor operators on real and emulated devices.")
app.command()(bench)
app.command()(build)
app.command()(baseline)
app.command()(examples)
app.command()(report)
app.add_typer(devices_app, name="devices")
app.add_typer(boards_app, name="boards")
app.command()(generate)
app.command()(tune)
app.add_typer(model_app, name="model")
app.command(name="bench-suite")(bench_suite)
app.command()(compare)
app.command()(export)
app.command(name="import")(import_)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
