"""The `tensorop` command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from . import report as rep
from .baselines import NAMES as BASELINES, BaselineUnavailable, baseline_kernel
from .campaign import Job, new_campaign_id, run_campaign
from .config.yamlfile import ConfigError
from .lab import Lab
from .ops import gemm
from .records import Status, Trial
from .store import Store
from .trial import Kernel

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Generate, verify and measure tensor operators on real and emulated devices.")
devices_app = typer.Typer(no_args_is_help=True, help="List and check the devices in devices.yaml.")
app.add_typer(devices_app, name="devices")

# Piped output keeps whole rows rather than folding them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DeviceOpt = typer.Option(None, "--device", "-d", help="Device name or alias (repeatable).")
ShapeOpt = typer.Option("256x256x256", "--shape", "-s", help="MxNxK.")
OpOpt = typer.Option("gemm", "--op", help="Operator (gemm).")
DtypeOpt = typer.Option("f32", "--dtype", help="Data type (f32).")
JsonOpt = typer.Option(False, "--json", help="One JSON object per trial on stdout.")
ConfigOpt = typer.Option(None, "--devices-file", help="devices.yaml to use (default: the workspace's).")


def _lab(devices_file: Optional[Path]) -> Lab:
    try:
        return Lab.load(devices_file=devices_file)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)


def _resolve_devices(lab: Lab, names: Optional[List[str]]) -> list[str]:
    if not names:
        return ["host"] if "host" in lab.devices else [next(iter(lab.devices))]
    try:
        return [lab.device(n).name for n in names]
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)


def _shape(op: str, dtype: str, shape: str) -> tuple[int, int, int]:
    if op != gemm.NAME or dtype != gemm.DTYPE:
        err.print(f"[red]error:[/red] only --op gemm --dtype f32 is supported so far (got {op} {dtype})")
        raise typer.Exit(2)
    try:
        return gemm.parse_shape(shape)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)


def _overrides(max_time, min_samples, max_samples, warmup, flush, rel_ci) -> dict:
    return {"max_time_s": max_time, "min_samples": min_samples, "max_samples": max_samples, "warmup": warmup,
            "flush": flush or None, "rel_ci": rel_ci}


def _execute(lab: Lab, jobs: list[Job], as_json: bool, overrides: dict, cflags: tuple[str, ...] = (),
             title: str = "tensorop results", resume: Optional[str] = None) -> int:
    with Store(lab.ws.database) as store:
        campaign = resume or new_campaign_id()

        def on_trial(t: Trial):
            print(json.dumps(t.to_json()), flush=True)

        def on_event(device: str, text: str):
            err.print(f"[yellow]{device}:[/yellow] {text}", highlight=False)

        if as_json:
            trials = run_campaign(lab, jobs, store, campaign=campaign, overrides=overrides, extra_cflags=cflags,
                                  on_trial=on_trial, on_event=on_event, resume=bool(resume))
        else:   # live progress, one line per device (harness/progress.py)
            from .progress import DeviceProgress
            with DeviceProgress(jobs, err) as prog:
                trials = run_campaign(lab, jobs, store, campaign=campaign, overrides=overrides, extra_cflags=cflags,
                                      on_start=prog.on_start, on_trial=prog.on_trial, on_event=prog.on_event,
                                      resume=bool(resume))
        if resume:
            trials = list(store.trials("campaign = ?", (campaign,)))
            err.print(f"campaign {campaign}: resumed; {len(trials)} trials stored in all", highlight=False)
        if not as_json:
            rows = rep.with_ratios(trials, list(store.trials("kernel = 'openblas' AND status = 'ok'")))
            rep.print_table(rows, title=f"{title} (campaign {campaign})", console=out)
    return 0 if trials and all(t.status is Status.OK for t in trials) else 1


@app.command()
def bench(kernels: List[Path] = typer.Argument(..., help="Kernel C files implementing the op's ABI."),
          op: str = OpOpt, dtype: str = DtypeOpt, shape: List[str] = typer.Option(["256x256x256"], "--shape", "-s"),
          device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
          cflags: List[str] = typer.Option([], "--cflag", help="Extra compiler flag (repeatable)."),
          max_time: Optional[float] = typer.Option(None, help="Sampling budget per trial, seconds."),
          min_samples: Optional[int] = typer.Option(None), max_samples: Optional[int] = typer.Option(None),
          warmup: Optional[int] = typer.Option(None), rel_ci: Optional[float] = typer.Option(None),
          flush: bool = typer.Option(False, help="Flush caches before each sample."),
          resume: Optional[str] = typer.Option(None, "--resume", help="Continue this campaign id: run only "
                                               "the trials it has not finished (device errors are re-run)."),
          devices_file: Optional[Path] = ConfigOpt):
    """Verify and time kernel files on devices (exit 0 only if every trial is ok)."""
    lab = _lab(devices_file)
    shapes = [_shape(op, dtype, s) for s in shape]
    devs = _resolve_devices(lab, device)
    ks = []
    for k in kernels:
        if not k.is_file():
            err.print(f"[red]error:[/red] no such kernel file: {k}")
            raise typer.Exit(2)
        ks.append(Kernel.from_file(k))
    jobs = [Job(k, d, s) for k in ks for d in devs for s in shapes]
    raise typer.Exit(_execute(lab, jobs, as_json, _overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), tuple(cflags), resume=resume))


@app.command()
def baseline(name: str = typer.Argument(..., help="openblas | naive"), op: str = OpOpt, dtype: str = DtypeOpt,
             shape: List[str] = typer.Option(["256x256x256"], "--shape", "-s"),
             device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
             max_time: Optional[float] = typer.Option(None), min_samples: Optional[int] = typer.Option(None),
             max_samples: Optional[int] = typer.Option(None), warmup: Optional[int] = typer.Option(None),
             rel_ci: Optional[float] = typer.Option(None), flush: bool = typer.Option(False),
             devices_file: Optional[Path] = ConfigOpt):
    """Measure a baseline (OpenBLAS or naive C) through the same driver, gate and statistics."""
    lab = _lab(devices_file)
    if name not in BASELINES:
        err.print(f"[red]error:[/red] unknown baseline {name!r}; known: {', '.join(BASELINES)}")
        raise typer.Exit(2)
    shapes = [_shape(op, dtype, s) for s in shape]
    jobs = []
    for d in _resolve_devices(lab, device):
        try:
            k = baseline_kernel(lab.ws, name, lab.devices[d].arch)
        except BaselineUnavailable as e:
            err.print(f"[red]error:[/red] {d}: {e}")
            raise typer.Exit(2)
        jobs += [Job(k, d, s) for s in shapes]
    raise typer.Exit(_execute(lab, jobs, as_json, _overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), title=f"baseline {name}"))


@app.command()
def examples(shape: str = ShapeOpt, device: Optional[List[str]] = DeviceOpt,
         devices_file: Optional[Path] = ConfigOpt):
    """Benchmark the shipped example kernels and the baselines on the default devices."""
    from .examples import examples_for
    lab = _lab(devices_file)
    s = _shape("gemm", "f32", shape)
    devs = _resolve_devices(lab, device or ["host", "rv64-qemu", "arm64-qemu"])
    jobs = []
    for d in devs:
        dev = lab.devices[d]
        for name in ("openblas", "naive"):
            try:
                jobs.append(Job(baseline_kernel(lab.ws, name, dev.arch), d, s))
            except BaselineUnavailable as e:
                err.print(f"[yellow]skipping {name} on {d}:[/yellow] {e}")
        jobs += [Job(k, d, s) for k in examples_for(dev)]
    raise typer.Exit(_execute(lab, jobs, False, {}, title="example kernels vs OpenBLAS"))


@app.command()
def report(fmt: str = typer.Option("table", "--format", "-f", help="table | md | csv"),
           device: Optional[List[str]] = DeviceOpt, campaign: Optional[str] = typer.Option(None),
           all_trials: bool = typer.Option(False, "--all", help="Every trial, not just the latest per kernel."),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file."),
           devices_file: Optional[Path] = ConfigOpt):
    """Table of the results database (latest trial per device, kernel and shape)."""
    lab = _lab(devices_file)
    if not lab.ws.database.exists():
        err.print(f"no results yet ({lab.ws.database}); run `tensorop bench` or `tensorop baseline` first")
        raise typer.Exit(1)
    with Store(lab.ws.database) as store:
        where, params = [], []
        if device:
            names = _resolve_devices(lab, device)
            where.append(f"device IN ({','.join('?' * len(names))})")
            params += names
        if campaign:
            where.append("campaign = ?")
            params.append(campaign)
        trials = list(store.trials(" AND ".join(where), tuple(params)))
        baselines = list(store.trials("kernel = 'openblas' AND status = 'ok'"))
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


@devices_app.command("list")
def devices_list(devices_file: Optional[Path] = ConfigOpt):
    """The devices in devices.yaml."""
    from rich.table import Table
    lab = _lab(devices_file)
    t = Table(title=f"devices ({lab.ws.devices_file})")
    for h in ("name", "arch", "transport", "toolchain", "emulated", "features", "aliases", "description"):
        t.add_column(h, overflow="fold")
    for d in lab.devices.values():
        t.add_row(d.name, d.arch, d.transport + (f" {d.user + '@' if d.user else ''}{d.host}" if d.host else ""),
                  d.toolchain, "yes" if d.emulated else "no", ", ".join(d.features), ", ".join(d.aliases),
                  d.description)
    out.print(t)


@devices_app.command("check")
def devices_check(device: Optional[List[str]] = DeviceOpt, devices_file: Optional[Path] = ConfigOpt):
    """Each device: toolchain found, runner works, a trivial program runs (exit 1 if any fails)."""
    from rich.table import Table
    from .device_check import check_device
    lab = _lab(devices_file)
    names = _resolve_devices(lab, device) if device else list(lab.devices)
    t = Table(title="device check")
    for h in ("device", "ok", "toolchain", "runner", "trivial run", "openblas", "insn counter"):
        t.add_column(h, overflow="fold")
    bad = 0
    for n in names:
        r = check_device(lab, lab.devices[n])
        bad += not r.ok
        t.add_row(n, "[green]yes[/green]" if r.ok else "[red]no[/red]", r.toolchain, r.runner, r.trivial,
                  r.openblas, r.insn_counter)
    out.print(t)
    raise typer.Exit(1 if bad else 0)


from .generate.command import generate as _generate  # noqa: E402
app.command(name="generate")(_generate)


@devices_app.command("trust")
def devices_trust(name: str = typer.Argument(..., help="Device name or alias (an ssh device)."),
                  yes: bool = typer.Option(False, "--yes", "-y", help="Record the key without asking."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Show an ssh device's host key fingerprint and record it in known_hosts."""
    from .transport.ssh import SSHError, scan_host_key, trust_host_key
    lab = _lab(devices_file)
    dev = lab.devices[_resolve_devices(lab, [name])[0]]
    if dev.transport != "ssh":
        err.print(f"[red]error:[/red] device {dev.name} uses transport {dev.transport!r}; nothing to trust")
        raise typer.Exit(2)
    try:
        ep, key, known, path = scan_host_key(dev, timeout=dev.connect_timeout_s)
    except SSHError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1)
    from .transport.ssh import fingerprint
    out.print(f"{dev.name}: {ep.known_hosts_name} presents {key.get_name()} key {fingerprint(key)}", highlight=False)
    if known:
        out.print(f"already trusted in {path}", highlight=False)
        return
    if not yes and not typer.confirm(f"Record this key in {path}?", default=False, err=True):
        raise typer.Exit(1)
    trust_host_key(path, ep, key)
    out.print(f"recorded in {path}", highlight=False)


@devices_app.command("probe")
def devices_probe(name: str = typer.Argument(..., help="Device name or alias."),
                  refresh: bool = typer.Option(False, "--refresh", help="Probe again even if a profile is cached."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Hardware profile of a device (ISA, vector length, caches, cores, memory, GPUs) as JSON, cached."""
    from .probe import ProbeError, load_or_probe, profile_path
    lab = _lab(devices_file)
    dev = lab.devices[_resolve_devices(lab, [name])[0]]
    try:
        prof = load_or_probe(lab, dev, refresh=refresh)
    except ProbeError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1)
    print(json.dumps(prof.to_json(), indent=2))
    err.print(f"[dim]cached in {profile_path(lab, dev)}[/dim]")


from .model.validate import model_app as _model_app  # noqa: E402
app.add_typer(_model_app, name="model")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
