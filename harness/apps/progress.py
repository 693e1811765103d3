"""Live progress of a campaign, one line per device (rich), for the CLI when not --json."""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class DeviceProgress:
    """Callbacks for harness.campaign.scheduler.run_campaign: on_start, on_trial, on_event."""

    def __init__(self, jobs, console: Console):
        self.totals = Counter(j.device for j in jobs)
        self.status: dict[str, Counter] = {d: Counter() for d in self.totals}
        self.progress = Progress(TextColumn("[bold]{task.fields[device]:<14}"), BarColumn(bar_width=20),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"),
                                 console=console, transient=False)
        self.tasks = {d: self.progress.add_task("", total=n, device=d, note="[dim]queued[/dim]")
                      for d, n in self.totals.items()}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def _counts(self, d: str) -> str:
        c = self.status[d]
        return " ".join(f"{k}:{v}" for k, v in sorted(c.items()))

    def on_start(self, j) -> None:
        self.progress.update(self.tasks[j.device],
                             note=f"{j.kernel.label} {'x'.join(map(str, j.shape))} ...  [dim]{self._counts(j.device)}[/dim]")

    def on_trial(self, t) -> None:
        self.status[t.device][t.status.value] += 1
        style = "green" if t.status.value == "ok" else "red"
        last = f"[{style}]{t.kernel}: {t.status.value}[/{style}]"
        self.progress.update(self.tasks[t.device], advance=1, note=f"{last}  [dim]{self._counts(t.device)}[/dim]")

    def on_event(self, device: str, text: str) -> None:
        if device in self.tasks:
            self.progress.update(self.tasks[device], note=f"[yellow]{text[:150]}[/yellow]")
        self.progress.console.print(f"[yellow]{device}:[/yellow] {text}", highlight=False)
