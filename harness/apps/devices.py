"""`tensorop devices list|check|trust|probe`: the devices of devices.yaml, whether each is usable,
an SSH board's (or a lab board's) host key recorded, a device's hardware profile."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from harness.apps.common import err, fail, load_lab, out, resolve_devices
from harness.transport import get_transport
from harness.apps.options import ConfigOpt, DeviceOpt
from harness.backends.cpu.probe import ProbeError, load_or_probe, profile_path
from harness.campaign.device_check import check_device

devices_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                          help="List and check the devices in devices.yaml.")


@devices_app.command("list")
def devices_list(devices_file: Optional[Path] = ConfigOpt):
    """The devices in devices.yaml."""
    lab = load_lab(devices_file)
    t = Table(title=f"devices ({lab.ws.devices_file})")
    for h in ("name", "arch", "transport", "toolchain", "emulated", "features", "aliases", "description"):
        t.add_column(h, overflow="fold")
    for d in lab.devices.values():
        t.add_row(d.name, d.arch, d.transport + (f" {d.user + '@' if d.user else ''}{d.host}" if d.host else ""),
                  d.toolchain, "system" if d.system_emulated else "yes" if d.emulated else "no", ", ".join(d.features), ", ".join(d.aliases),
                  d.description)
    out.print(t)


@devices_app.command("check")
def devices_check(device: Optional[List[str]] = DeviceOpt, devices_file: Optional[Path] = ConfigOpt):
    """Each device: toolchain found, runner works, a trivial program runs (exit 1 if any fails)."""
    lab = load_lab(devices_file)
    names = resolve_devices(lab, device) if device else list(lab.devices)
    t = Table(title="device check")
    for h in ("device", "ok", "toolchain", "runner", "trivial run", "openblas", "cycle model"):
        t.add_column(h, overflow="fold")
    bad = 0
    for n in names:
        r = check_device(lab, lab.devices[n])
        bad += not r.ok
        t.add_row(n, "[green]yes[/green]" if r.ok else "[red]no[/red]", r.toolchain, r.runner, r.trivial,
                  r.openblas, r.insn_counter)
    out.print(t)
    raise typer.Exit(1 if bad else 0)


@devices_app.command("trust")
def devices_trust(name: str = typer.Argument(..., help="Device name or alias: an ssh device, or a labgrid "
                                             "device (each of its lab's boards)."),
                  yes: bool = typer.Option(False, "--yes", "-y", help="Record the key without asking."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Show the host key fingerprint of an ssh device (or of each board a labgrid device may get:
    its place's NetworkService) and record it in known_hosts."""
    from harness.transport.ssh import SSHError, fingerprint, scan_host_key, trust_host_key
    lab = load_lab(devices_file)
    dev = lab.devices[resolve_devices(lab, [name])[0]]
    if dev.transport == "ssh":
        boards = [("", dev)]
    elif dev.transport == "labgrid":
        try:
            boards = get_transport(dev, lab.ws).boards()
        except Exception as e:
            fail(f"{dev.name}: {e}", 1)
        if not boards:
            fail(f"{dev.name}: no place of its lab matches it", 1)
    else:
        fail(f"device {dev.name} uses transport {dev.transport!r}; only ssh and labgrid devices have host keys")
    bad = 0
    for place, ssh_dev in boards:
        who = f"{dev.name}" + (f" (place {place}, {ssh_dev.host}:{ssh_dev.port})" if place else "")
        try:
            ep, key, known, path = scan_host_key(ssh_dev, timeout=dev.connect_timeout_s)
        except SSHError as e:
            err.print(f"[red]error:[/red] {who}: {e}", highlight=False)
            bad += 1
            continue
        out.print(f"{who}: {ep.known_hosts_name} presents {key.get_name()} key {fingerprint(key)}", highlight=False)
        if known:
            out.print(f"already trusted in {path}", highlight=False)
            continue
        if not yes and not typer.confirm(f"Record this key in {path}?", default=False, err=True):
            bad += 1
            continue
        trust_host_key(path, ep, key)
        out.print(f"recorded in {path}", highlight=False)
    raise typer.Exit(1 if bad else 0)


@devices_app.command("probe")
def devices_probe(name: str = typer.Argument(..., help="Device name or alias."),
                  refresh: bool = typer.Option(False, "--refresh", help="Probe again even if a profile is cached."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Hardware profile of a device (ISA, vector length, caches, cores, memory, GPUs) as JSON, cached."""
    lab = load_lab(devices_file)
    dev = lab.devices[resolve_devices(lab, [name])[0]]
    try:
        prof = load_or_probe(lab, dev, refresh=refresh)
    except ProbeError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1)
    print(json.dumps(prof.to_json(), indent=2))
    err.print(f"[dim]cached in {profile_path(lab, dev)}[/dim]")
