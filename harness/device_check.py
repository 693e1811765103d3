"""`tensorop devices check`: is each device usable? Problems are reported, never raised."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from .baselines import baseline_kernel, openblas_lib
from .config.devices import Device
from .lab import Lab
from .ops import gemm
from .records import Status
from .transport.base import get_transport, is_qemu, runner_prefix
from .trial import build_kernel


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
    trivial = "[dim]skipped[/dim]"
    if ok:
        b = build_kernel(lab.ws, tc, baseline_kernel(lab.ws, "naive", device.arch))
        if b.status is not Status.OK:
            ok = False
            trivial = f"[red]{b.status}: {b.error}[/red]"
        else:
            case = gemm.GemmCase.tight(3, 5, 2, 12345)
            try:
                with get_transport(device, lab.ws) as t:
                    run = t.run(b.artifact, ["check", case.arg()], timeout_s=device.timeout_s + 10,
                                fetch=["c0.bin"])
            except Exception as e:
                run = None
                trivial = f"[red]{e}[/red]"
                ok = False
            if run is not None:
                if run.device_error or run.timed_out or run.returncode != 0:
                    ok = False
                    why = run.device_error or ("timed out" if run.timed_out else
                                               f"exit {run.returncode} {run.signal or ''} {run.stderr.strip()[-200:]}")
                    trivial = f"[red]{why}[/red]"
                else:
                    v = gemm.verify(case, run.files.get("c0.bin", b""))
                    trivial = f"ok ({run.wall_s * 1000:.0f} ms)" if v.ok else f"[red]wrong result: {v.detail}[/red]"
                    ok = ok and v.ok
    lib = openblas_lib(lab.ws, device.arch)
    openblas = "available" if lib.is_file() else f"[yellow]missing ({lib}); run make setup[/yellow]"
    if device.emulated and prefix and is_qemu(prefix[0]):
        counter = "qemu plugin" if lab.ws.qemu_plugin.is_file() else "[yellow]plugin not built (make setup)[/yellow]"
    else:
        counter = "n/a (native)"
    return DeviceReport(ok, tc_text, runner_text, trivial, openblas, counter)
