"""`tensorop devices check`: is each device usable? Problems are reported, never raised."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from harness.measure import check
from harness.backends.cpu.baselines import baseline_kernel, openblas_lib
from harness.config.devices import Device
from harness.config.lab import Lab
from harness.ops import gemm
from harness.core.records import Status
from harness.transport.scripts import script
from harness.transport import get_transport
from harness.transport.base import is_qemu, runner_prefix
from harness.measure.model import memory
from harness.measure.model.mca import vlen_note
from harness.measure.runner import build_kernel


@dataclass
class DeviceReport:
    ok: bool
    toolchain: str
    runner: str
    trivial: str
    openblas: str
    insn_counter: str


def check_device(lab: Lab, device: Device) -> DeviceReport:
    ok = True
    tc = lab.toolchain(device)
    if tc is None:
        return DeviceReport(False, f"[red]toolchain {device.toolchain!r} not defined[/red]", "", "", "", "")
    cc = tc.compiler()
    if cc:
        tc_text = f"{tc.name}: {tc.version()}"
    else:
        ok = False
        tc_text = f"[red]{tc.name}: none of {', '.join(tc.cc)} found[/red] ({tc.install_hint()})"
    prefix = runner_prefix(device, lab.ws)
    if not prefix:
        runner_text = "native" if device.transport == "local" else device.transport
    elif shutil.which(prefix[0]) or device.transport != "local":
        runner_text = " ".join(prefix)
    else:
        ok = False
        runner_text = f"[red]{prefix[0]} not found[/red]"
    if device.transport == "ssh":
        remote_ok, remote_text = ssh_health(lab, device)
        ok = ok and remote_ok
        runner_text = f"{remote_text}; runner: {runner_text}"
    elif device.transport == "labgrid":
        from harness.transport.labgrid import describe
        lab_ok, lines = describe(device)     # the coordinator, the matching places, who holds what
        ok = ok and lab_ok
        runner_text = "; ".join(lines) + f"; runner: {runner_text}"
    trivial = "[dim]skipped[/dim]"
    if ok:
        b = build_kernel(lab.ws, tc, baseline_kernel(lab.ws, "naive", device.arch))
        if b.status is not Status.OK:
            ok = False
            trivial = f"[red]{b.status}: {b.error}[/red]"
        else:
            try:
                with get_transport(device, lab.ws) as t:
                    res, run, failure = check.gate(t, b.artifact, device, (3, 5, 2),
                                                   [12345 + i for i in range(gemm.SEEDS_NEEDED)],
                                                   device.timeout_s + 10)
                if res.ok:
                    trivial = f"ok ({run.wall_s * 1000:.0f} ms)"
                else:
                    ok = False
                    trivial = f"[red]{failure or 'wrong result'}: {res.detail[:300]}[/red]"
            except Exception as e:
                trivial = f"[red]{e}[/red]"
                ok = False
    lib = openblas_lib(lab.ws, device.arch)
    openblas = "available" if lib.is_file() else f"[yellow]missing ({lib}); run make setup[/yellow]"
    if device.emulated and prefix and is_qemu(prefix[0]):
        counter = "qemu plugin" if lab.ws.qemu_plugin.is_file() else "[yellow]plugin not built (make setup)[/yellow]"
        counter += f"; {device.core_model or 'no core model'}"
        hier = memory.for_device(device)
        counter += f" + memory ({hier.describe()})" if hier else " (no memory model)"
        note = vlen_note(device)
        if note:
            counter += f"; [yellow]{note}[/yellow]"
    else:
        counter = "n/a (native)"
    return DeviceReport(ok, tc_text, runner_text, trivial, openblas, counter)


def ssh_health(lab: Lab, device: Device) -> tuple[bool, str]:
    """Reachability, `uname -m` against the configured arch, free disk in the workdir, load,
    and whether the runner binary exists on the device."""
    try:
        with get_transport(device, lab.ws) as t:
            wd = getattr(t, "workdir", device.workdir)
            r = t.run_command(["sh", "-c", script("health.sh"), "sh", wd, device.runner[0] if device.runner else ""],
                              timeout_s=device.connect_timeout_s + 10)
    except Exception as e:
        return False, f"[red]{e}[/red]"
    if r.device_error:
        return False, f"[red]{r.device_error}[/red]"
    lines = r.stdout.strip().splitlines()
    machine = lines[0].strip() if lines else "?"
    ok = machine == device.arch or (device.runner and device.emulated)   # an x86 box may run RISC-V under QEMU
    parts = [f"uname -m {machine}" + ("" if machine == device.arch else f" (device arch {device.arch})")]
    if len(lines) > 1 and len(lines[1].split()) >= 4:
        try:
            parts.append(f"{int(lines[1].split()[3]) / 1e6:.1f} GB free in {wd}")
        except ValueError:
            pass
    if len(lines) > 2:
        parts.append("load " + " ".join(lines[2].split()[:3]))
    if "missing-runner" in r.stdout:
        ok = False
        parts.append(f"[red]runner {device.runner[0]} not found on the device[/red]")
    text = ", ".join(parts)
    return bool(ok), text if ok else f"[red]{text}[/red]"
