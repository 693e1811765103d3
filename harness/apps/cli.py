"""The `tensorop` command line."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from harness.campaign import report as rep
from harness.backends.cuda.baselines import CUDA_NAMES
from harness.backends.cpu.baselines import NAMES as BASELINES, baseline_kernel
from harness.backends import BaselineUnavailable, device_baseline
from harness.campaign.scheduler import Campaign, Job, new_campaign_id
from harness.apps.progress import DeviceProgress
from harness.config.yamlfile import ConfigError
from harness.config.lab import Lab
from harness.ops import Op, UnknownOp, get_op
from harness.core.records import Status, Trial
from harness.campaign.store import Store
from harness.core.records import Kernel

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Generate, verify and measure tensor operators on real and emulated devices.")
devices_app = typer.Typer(no_args_is_help=True, help="List and check the devices in devices.yaml.")
app.add_typer(devices_app, name="devices")

# Piped output keeps whole rows rather than folding them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DeviceOpt = typer.Option(None, "--device", "-d", help="Device name or alias (repeatable).")
SHAPE_HELP = ("gemm: MxNxK; conv2d: NxCxHxW,KxRxS,s1,p1 (stride, pad; e.g. 1x64x56x56,64x3x3,s1,p1); "
              "gemm_batched: BATCHxMxNxK")
ShapeOpt = typer.Option("256x256x256", "--shape", "-s", help="MxNxK.")
OpOpt = typer.Option("gemm", "--op", help="Operator: gemm, conv2d, gemm_batched (harness/ops/).")
DtypeOpt = typer.Option("f32", "--dtype", help="Data type: f32; gemm also f16, bf16 (f32 accumulation and C) and i8 (exact int32 C).")
JsonOpt = typer.Option(False, "--json", help="One JSON object per trial on stdout.")
ConfigOpt = typer.Option(None, "--devices-file", help="devices.yaml to use (default: the workspace's).")
ShapesOpt = typer.Option(None, "--shape", "-s", help=SHAPE_HELP + " (repeatable; default: the op's default, "
                         "256x256x256 for gemm).")
SuiteOpt = typer.Option(None, "--suite", help="A built-in shape suite instead of --shape: paper-conv "
                        "(the paper's conv layers, N,C,H,W/K,R,S: batch 1 on emulated devices); llama "
                        "(Llama-7B and Llama-3-70B projection GEMMs at M = 1, 16, 128; any --dtype; "
                        "emulated devices: Llama-7B at M = 1).")
ScaleOpt = typer.Option(1.0, "--scale", help="With --suite on real devices: run this fraction of each layer's "
                        "batch (at least 1 image), e.g. 0.0625; the scaling is printed.")
# the measurement overrides bench and baseline share (harness.core.measure_options.MeasureOptions)
MaxTimeOpt = typer.Option(None, "--max-time", help="Sampling budget per trial, seconds.")
MinSamplesOpt = typer.Option(None, "--min-samples")
MaxSamplesOpt = typer.Option(None, "--max-samples")
WarmupOpt = typer.Option(None, "--warmup")
RelCiOpt = typer.Option(None, "--rel-ci")
FlushOpt = typer.Option(False, "--flush/--no-flush", help="Flush caches before each sample.")


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


def _op(op: str, dtype: str) -> Op:
    try:
        return get_op(op, dtype)
    except UnknownOp as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)


def _shape(op: str | Op, dtype: str, shape: str) -> tuple[int, ...]:
    o = op if isinstance(op, Op) else _op(op, dtype)
    try:
        return o.parse_shape(shape)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e} ({o.name} shapes: {o.shape_syntax})", highlight=False)
        raise typer.Exit(2)


def _shapes_for(o: Op, shapes: Optional[List[str]], suite: Optional[str], scale: float,
                devs: list[str], lab: Lab) -> dict[str, list[tuple[int, ...]]]:
    """device -> shapes: the --shape list, or a suite's layers scaled for each device (printed)."""
    if suite:
        from harness.ops.suites import UnknownSuite, describe_scaling, get_suite, scaled_shapes
        if shapes:
            err.print("[red]error:[/red] give --shape or --suite, not both")
            raise typer.Exit(2)
        try:
            st = get_suite(suite)
        except UnknownSuite as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
        if st.op != o.name or not st.allows(o.dtype):
            err.print(f"[red]error:[/red] suite {suite} is a {st.op} suite of dtype "
                      f"{'/'.join(st.dtypes or (st.dtype,))}; add --op {st.op}")
            raise typer.Exit(2)
        out_ = {}
        for emulated in sorted({lab.devices[d].emulated for d in devs}):
            err.print(describe_scaling(st, scale, emulated), highlight=False)
        for d in devs:
            out_[d] = scaled_shapes(st, scale, lab.devices[d].emulated)
        return out_
    parsed = [_shape(o, o.dtype, s) for s in (shapes or [o.default_shape])]
    return {d: parsed for d in devs}


def _overrides(max_time, min_samples, max_samples, warmup, flush, rel_ci) -> dict:
    return {"max_time_s": max_time, "min_samples": min_samples, "max_samples": max_samples, "warmup": warmup,
            "flush": flush or None, "rel_ci": rel_ci}


def _resume_hint(campaign: str) -> str:
    """The command line that continues this campaign."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a == "--resume":
            skip = True
            continue
        if not a.startswith("--resume="):
            argv.append(a)
    import shlex
    return "tensorop " + shlex.join(argv + ["--resume", campaign])


def _execute(lab: Lab, jobs: list[Job], as_json: bool, overrides: dict, cflags: tuple[str, ...] = (),
             title: str = "tensorop results", resume: Optional[str] = None,
             against: Optional[dict[str, Kernel]] = None, target: float = 0.02, budget_s: float = 60.0) -> int:
    """Run the campaign; with `against` (device name -> the kernel to compare with there), each
    other kernel is then compared with it by the one objective."""
    if against:
        have = {(j.device, j.shape, j.kernel.hash) for j in jobs}
        jobs = jobs + list({(j.device, j.shape): Job(against[j.device], j.device, j.shape, j.op) for j in jobs
                            if j.device in against and (j.device, j.shape, against[j.device].hash) not in have}
                           .values())
    with Store(lab.ws.database) as store:
        if resume == "last":
            resume = store.latest_campaign()
            if resume is None:
                err.print("[red]error:[/red] --resume last: no campaign in the results database yet")
                return 2
        campaign = resume or new_campaign_id()
        err.print(f"campaign {campaign}" + (" (resumed)" if resume else ""), highlight=False)

        def on_trial(t: Trial):
            if not against:
                print(json.dumps({**t.to_json(), "campaign": campaign}), flush=True)

        def on_term(signum, frame):   # kill (SIGTERM) ends the run like Ctrl-C: with the resume hint
            raise KeyboardInterrupt
        old_term = signal.signal(signal.SIGTERM, on_term)

        def on_event(device: str, text: str):
            err.print(f"[yellow]{device}:[/yellow] {text}", highlight=False)
        try:
            with Campaign(lab, store, campaign=campaign, overrides=overrides, extra_cflags=cflags) as c:
                if as_json:
                    c.on_event = on_event
                    trials = c.run(jobs, on_trial=on_trial, resume=bool(resume))
                else:   # live progress, one line per device (harness/apps/progress.py)
                    with DeviceProgress(jobs, err) as prog:
                        c.on_event = prog.on_event
                        trials = c.run(jobs, on_start=prog.on_start, on_trial=prog.on_trial, resume=bool(resume))
                    c.on_event = on_event
                if resume:   # the result set: the latest trial of each job (a re-run replaces a device_error)
                    trials = store.campaign_trials(campaign)
                    err.print(f"campaign {campaign}: resumed; {len(trials)} jobs in all", highlight=False)
                if against:
                    _compare_against(c, trials, jobs, against, as_json, target, budget_s)
        except KeyboardInterrupt:
            err.print(f"interrupted: the finished trials of campaign {campaign} are stored; continue with\n"
                      f"  {_resume_hint(campaign)}", highlight=False)
            return 130
        finally:
            signal.signal(signal.SIGTERM, old_term)
        if not as_json:
            rows = rep.with_ratios(trials, store.baselines())
            rep.print_table(rows, title=f"{title} (campaign {campaign})", console=out)
    return 0 if trials and all(t.status is Status.OK for t in trials) else 1


def _compare_against(c: Campaign, trials: list[Trial], jobs: list[Job], against_by_device: dict[str, Kernel],
                     as_json: bool, target: float, budget_s: float) -> None:
    """After the campaign's trials: each kernel against `against` on each device and shape, by the
    one objective (Campaign.compare: paired interleaved time on real devices, modelled cycles on
    emulated ones)."""
    store = c.store
    kernels = {j.kernel.hash: j.kernel for j in jobs}
    base = {(t.device, t.shape): t for t in trials
            if t.device in against_by_device and t.source_hash == against_by_device[t.device].hash}
    for t in trials:
        against = against_by_device.get(t.device)
        if against is None or t.source_hash == against.hash:
            if as_json:
                print(json.dumps(t.to_json()), flush=True)
            continue
        b = base.get((t.device, t.shape))
        cmp, note = None, ""
        if b is None or t.status is not Status.OK or b.status is not Status.OK:
            note = f"no comparison: {t.kernel} is {t.status}" + (f", {against.label} is {b.status}" if b else "")
        else:
            if not t.emulated:
                err.print(f"[dim]{t.device}: pairing {t.kernel} with {against.label} (interleaved) ...[/dim]",
                          highlight=False)
            run = c.compare(t.device, kernels[t.source_hash], against, t.shape, get_op(t.op, t.dtype),
                            trials=(t, b), target=target, budget_s=budget_s)
            cmp = run.ratio
            if run.status is not Status.OK:
                note = f"paired run: {run.status}: {run.error}"
            elif cmp is None:
                note = run.error or "no comparison"
            elif cmp.note:
                err.print(f"[yellow]{t.device}: {cmp.note}[/yellow]", highlight=False)
        if cmp is not None:
            cmp = stats.Ratio(cmp.ratio, cmp.ci95, cmp.p_value, cmp.metric, cmp.n, against.label, cmp.note)
            store.set_meta(t, paired=cmp.to_json()) if t.id is not None else t.meta.update(paired=cmp.to_json())
        if as_json:
            print(json.dumps({**t.to_json(), **(cmp.to_json() if cmp else {"against": against.label, "ratio": None,
                                                                            "note": note})}), flush=True)
        elif cmp is not None:
            out.print(f"{t.device} {t.kernel} vs {against.label}: {cmp.describe()}", highlight=False)
        else:
            out.print(f"[yellow]{t.device} {t.kernel} vs {against.label}: {note}[/yellow]", highlight=False)


@app.command()
def bench(kernels: List[Path] = typer.Argument(..., help="Kernel C files implementing the op's ABI."),
          op: str = OpOpt, dtype: str = DtypeOpt, shape: Optional[List[str]] = ShapesOpt,
          suite: Optional[str] = SuiteOpt, scale: float = ScaleOpt,
          device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
          cflags: List[str] = typer.Option([], "--cflag", help="Extra compiler flag (repeatable)."),
          max_time: Optional[float] = MaxTimeOpt, min_samples: Optional[int] = MinSamplesOpt,
          max_samples: Optional[int] = MaxSamplesOpt, warmup: Optional[int] = WarmupOpt,
          rel_ci: Optional[float] = RelCiOpt, flush: bool = FlushOpt,
          resume: Optional[str] = typer.Option(None, "--resume", help="Continue this campaign id (or 'last', the "
                                               "most recent): run only the trials it has not finished (device "
                                               "errors are re-run and replace the failed ones)."),
          against: Optional[str] = typer.Option(None, "--against", help="Compare each kernel with `openblas`, "
                                                "`naive` or another kernel file: paired interleaved time on real "
                                                "devices (ratio of medians, bootstrap 95% CI, Mann-Whitney p), "
                                                "modelled cycles on emulated ones."),
          target: float = typer.Option(0.02, "--target", help="Paired comparisons sample until the ratio's CI "
                                       "half-width is at most this fraction (or the budget is spent)."),
          budget: float = typer.Option(60.0, "--budget", help="Seconds of paired timing per comparison."),
          trust: List[str] = typer.Option([], "--trust", help="Relax a named object-gate rule for this trusted "
                                          "kernel (symbols, addresses, definitions, constructors, syscalls); "
                                          "recorded with the trial."),
          build_only: bool = typer.Option(False, "--build-only", help="Compile, gate and inspect only (as "
                                          "`tensorop build`): for a CUDA device the compile-only report."),
          devices_file: Optional[Path] = ConfigOpt):
    """Verify and time kernel files on devices (exit 0 only if every trial is ok)."""
    from harness.backends.cpu.object_gate import RULES
    lab = _lab(devices_file)
    if build_only:
        from harness.backends import compile_only as cuda_command
        raise typer.Exit(cuda_command.run(lab, list(kernels), device or ["host"], as_json=as_json, out=out, err=err,
                                          relax=tuple(trust), cflags=tuple(cflags)))
    if suite and op == "gemm":
        from harness.ops.suites import SUITES
        if suite in SUITES:
            op, dtype = SUITES[suite].op, (dtype if SUITES[suite].allows(dtype) else SUITES[suite].dtype)
    o = _op(op, dtype)
    devs = _resolve_devices(lab, device)
    per_dev = _shapes_for(o, shape, suite, scale, devs, lab)
    bad = [r for r in trust if r not in RULES]
    if bad:
        err.print(f"[red]error:[/red] unknown gate rule(s) {', '.join(bad)}; known: {', '.join(RULES)}")
        raise typer.Exit(2)
    ks = []
    for k in kernels:
        if not k.is_file():
            err.print(f"[red]error:[/red] no such kernel file: {k}")
            raise typer.Exit(2)
        ks.append(Kernel.from_file(k, relax=tuple(trust)))
    other: dict[str, Kernel] = {}
    if against:
        if against in BASELINES or against in CUDA_NAMES:
            try:
                other = {d: device_baseline(lab.ws, against, lab.devices[d], o) for d in devs}
            except BaselineUnavailable as e:
                err.print(f"[red]error:[/red] {e}")
                raise typer.Exit(2)
        elif Path(against).is_file():
            k = Kernel.from_file(Path(against))
            other = {d: k for d in devs}
        else:
            err.print(f"[red]error:[/red] --against {against!r}: not a baseline ({', '.join(BASELINES)}; on CUDA "
                      f"devices {', '.join(CUDA_NAMES)}) or a file")
            raise typer.Exit(2)
    jobs = [Job(k, d, s, o) for k in ks for d in devs for s in per_dev[d]]
    raise typer.Exit(_execute(lab, jobs, as_json, _overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), tuple(cflags), resume=resume, against=other,
                              target=target, budget_s=budget))


@app.command()
def build(kernels: List[Path] = typer.Argument(..., help="Kernel files (.c for CPU devices, .cu for CUDA devices)."),
          device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
          cflags: List[str] = typer.Option([], "--cflag", help="Extra compiler flag (repeatable)."),
          threads: Optional[int] = typer.Option(None, "--threads", help="CUDA: threads per block for the occupancy "
                                                "estimate (default: the kernel's __launch_bounds__, else 256)."),
          dyn_smem: int = typer.Option(0, "--dyn-smem", help="CUDA: dynamic shared memory per block, bytes, for "
                                       "the occupancy estimate."),
          trust: List[str] = typer.Option([], "--trust", help="Relax a named object-gate rule (as bench)."),
          strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too (e.g. no tensor-core "
                                      "instructions in SASS, register spills)."),
          devices_file: Optional[Path] = ConfigOpt):
    """Compile, gate and inspect kernels for devices without running them. For a CUDA device
    (features [cuda, sm_XX]; or a GPU name such as H100, compile-only): registers, spills, shared
    memory, an occupancy estimate and the tensor-core instructions in the SASS; no GPU needed."""
    from harness.backends import compile_only as cuda_command
    lab = _lab(devices_file)
    raise typer.Exit(cuda_command.run(lab, list(kernels), device or ["host"], as_json=as_json, out=out, err=err,
                                      threads=threads, dynamic_smem=dyn_smem, relax=tuple(trust),
                                      cflags=tuple(cflags), strict=strict))


@app.command()
def baseline(name: str = typer.Argument(..., help="openblas | naive (CUDA devices: vendor | cublas | cudnn)"), op: str = OpOpt, dtype: str = DtypeOpt,
             shape: Optional[List[str]] = ShapesOpt, suite: Optional[str] = SuiteOpt, scale: float = ScaleOpt,
             device: Optional[List[str]] = DeviceOpt, as_json: bool = JsonOpt,
             max_time: Optional[float] = MaxTimeOpt, min_samples: Optional[int] = MinSamplesOpt,
             max_samples: Optional[int] = MaxSamplesOpt, warmup: Optional[int] = WarmupOpt,
             rel_ci: Optional[float] = RelCiOpt, flush: bool = FlushOpt,
             devices_file: Optional[Path] = ConfigOpt):
    """Measure a baseline (OpenBLAS or naive C) through the same driver, gate and statistics."""
    lab = _lab(devices_file)
    if name not in BASELINES and name not in CUDA_NAMES:
        err.print(f"[red]error:[/red] unknown baseline {name!r}; known: {', '.join(BASELINES)} (CUDA devices: "
                  f"{', '.join(CUDA_NAMES)})")
        raise typer.Exit(2)
    if suite and op == "gemm":
        from harness.ops.suites import SUITES
        if suite in SUITES:
            op, dtype = SUITES[suite].op, (dtype if SUITES[suite].allows(dtype) else SUITES[suite].dtype)
    o = _op(op, dtype)
    devs = _resolve_devices(lab, device)
    per_dev = _shapes_for(o, shape, suite, scale, devs, lab)
    jobs = []
    for d in devs:
        try:
            k = device_baseline(lab.ws, name, lab.devices[d], o)
        except BaselineUnavailable as e:
            err.print(f"[red]error:[/red] {d}: {e}")
            raise typer.Exit(2)
        jobs += [Job(k, d, s, o) for s in per_dev[d]]
    raise typer.Exit(_execute(lab, jobs, as_json, _overrides(max_time, min_samples, max_samples, warmup, flush,
                                                             rel_ci), title=f"baseline {name}"))


@app.command()
def examples(shape: str = ShapeOpt, device: Optional[List[str]] = DeviceOpt,
         devices_file: Optional[Path] = ConfigOpt):
    """Benchmark the shipped example kernels and the baselines on the default devices."""
    from harness.apps.examples import examples_for
    lab = _lab(devices_file)
    s = _shape("gemm", "f32", shape)
    devs = _resolve_devices(lab, device or ["host", "rv64-qemu", "arm64-qemu"])
    jobs, against = [], {}
    for d in devs:
        dev = lab.devices[d]
        try:
            against[d] = baseline_kernel(lab.ws, "openblas", dev.arch)
        except BaselineUnavailable as e:
            err.print(f"[yellow]no OpenBLAS on {d}:[/yellow] {e}")
        jobs.append(Job(baseline_kernel(lab.ws, "naive", dev.arch), d, s))
        jobs += [Job(k, d, s) for k in examples_for(dev)]
    raise typer.Exit(_execute(lab, jobs, False, {}, title="example kernels vs OpenBLAS", against=against,
                              budget_s=20.0))


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
        names = _resolve_devices(lab, device) if device else None
        trials = list(store.trials(campaign=campaign, devices=names))
        baselines = store.baselines()
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
    from harness.campaign.device_check import check_device
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


from harness.apps.generate import generate as _generate  # noqa: E402
app.command(name="generate")(_generate)


@devices_app.command("trust")
def devices_trust(name: str = typer.Argument(..., help="Device name or alias (an ssh device)."),
                  yes: bool = typer.Option(False, "--yes", "-y", help="Record the key without asking."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Show an ssh device's host key fingerprint and record it in known_hosts."""
    from harness.transport.ssh import SSHError, scan_host_key, trust_host_key
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
    from harness.transport.ssh import fingerprint
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
    from harness.backends.cpu.probe import ProbeError, load_or_probe, profile_path
    lab = _lab(devices_file)
    dev = lab.devices[_resolve_devices(lab, [name])[0]]
    try:
        prof = load_or_probe(lab, dev, refresh=refresh)
    except ProbeError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1)
    print(json.dumps(prof.to_json(), indent=2))
    err.print(f"[dim]cached in {profile_path(lab, dev)}[/dim]")


from harness.apps.tune import tune as _tune  # noqa: E402
app.command(name="tune")(_tune)
from harness.apps.model import model_app as _model_app  # noqa: E402
app.add_typer(_model_app, name="model")

from harness.apps.bench_suite import bench_suite as _bench_suite  # noqa: E402
from harness.core import stats
app.command(name="bench-suite")(_bench_suite)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
