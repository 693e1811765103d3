"""`tensorop boards up|down|status`: Linux boards tensorop builds from Debian packages and boots in
QEMU system mode (harness/transport/boards/), reached as the SSH devices of devices.yaml that name
them (`board: NAME`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from harness.apps.common import err, fail, load_lab, out
from harness.apps.options import ConfigOpt
from harness.config.boards import SYSTEM_BOARDS, board_dir, system_board
from harness.config.devices import Device
from harness.transport.boards import BoardError
from harness.transport.boards.image import cache_problem, ensure_built
from harness.transport.boards.labgrid import Published, publish, unpublish
from harness.transport.boards.vm import start, state, stop

boards_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Build, boot and stop the Linux boards tensorop runs in QEMU system mode.")


def _device_of(lab, name: str) -> Device:
    """The devices.yaml entry that reaches board `name` (the device of that name, else the first
    device with `board: name`)."""
    devs = [d for d in lab.devices.values() if d.board == name]
    if not devs:
        fail(f"no device in {lab.ws.devices_file} has `board: {name}`; add one (docs/DEVICES.md, Boards)")
    return next((d for d in devs if d.name == name), devs[0])


def _board(name: str):
    try:
        return system_board(name)
    except ValueError as e:
        fail(escape(str(e)))


@boards_app.command("up")
def boards_up(name: str = typer.Argument(..., help=f"The board: {', '.join(SYSTEM_BOARDS)}."),
              rebuild: bool = typer.Option(False, "--rebuild", help="Build the image again even if cached."),
              deadline: Optional[float] = typer.Option(None, "--deadline", help="Seconds from QEMU's start to "
                                                       "an SSH answer before giving up (default: the board's)."),
              devices_file: Optional[Path] = ConfigOpt):
    """Build the board once (cached in ~/.cache/tensorop/boards/NAME), boot it and wait for its SSH."""
    board = _board(name)
    lab = load_lab(devices_file)
    dev = _device_of(lab, name)
    try:
        ensure_built(board, rebuild=rebuild, log=err.print)
        st = start(board, dev.port, host=dev.host or "127.0.0.1", deadline_s=deadline, log=err.print)
    except BoardError as e:
        fail(escape(str(e)))
    out.print(f"{name}: up (device {dev.name}, ssh {dev.user}@{dev.host}:{dev.port}, QEMU pid {st.pid})")


@boards_app.command("down")
def boards_down(name: str = typer.Argument(..., help=f"The board: {', '.join(SYSTEM_BOARDS)}.")):
    """Stop the board's QEMU (its disk is a snapshot: the cached image is left as built)."""
    board = _board(name)
    try:
        stopped = stop(board)
    except BoardError as e:
        fail(escape(str(e)))
    out.print(f"{name}: {'stopped' if stopped else 'was not running'}")


@boards_app.command("status")
def boards_status(devices_file: Optional[Path] = ConfigOpt):
    """Each board: built (when, how long it took), running, SSH answering, its last boot time."""
    lab = load_lab(devices_file)
    t = Table(title=f"boards ({board_dir('x').parent})")
    for h in ("board", "device", "built", "running", "ssh", "build s", "boot s", "note"):
        t.add_column(h, overflow="fold")
    for name, board in SYSTEM_BOARDS.items():
        devs = [d for d in lab.devices.values() if d.board == name]
        dev = next((d for d in devs if d.name == name), devs[0] if devs else None)
        st = state(board, dev.port if dev else 0, dev.host if dev else "127.0.0.1")
        problem = cache_problem(board, deep=False) if st.built else ""
        t.add_row(name, dev.name if dev else "-", st.built_at or "no", f"pid {st.pid}" if st.running else "no",
                  "yes" if st.ssh else "no", f"{st.build_s:.0f}" if st.build_s else "",
                  f"{st.boot_s:.0f}" if st.boot_s else "", problem)
    out.print(t)


@boards_app.command("places")
def boards_places(coordinator: str = typer.Option(..., "--coordinator", "-c", envvar="LG_COORDINATOR",
                                                  help="The labgrid coordinator, host:port (or LG_COORDINATOR)."),
                  stop_: bool = typer.Option(False, "--stop", help="Stop the exporter instead."),
                  devices_file: Optional[Path] = ConfigOpt):
    """Publish the running boards as labgrid places (an exporter with each board's NetworkService, a
    place per board tagged board=NAME), so `transport: labgrid` devices reach them."""
    if stop_:
        out.print("labgrid exporter " + ("stopped" if unpublish() else "was not running"))
        return
    lab = load_lab(devices_file)
    entries = []
    for name, board in SYSTEM_BOARDS.items():
        devs = [d for d in lab.devices.values() if d.board == name and d.transport == "ssh"]
        if devs and state(board).running:
            entries.append(Published(board, devs[0].host or "127.0.0.1", devs[0].port))
    if not entries:
        fail("no board is running: `tensorop boards up NAME` first")
    try:
        publish(coordinator, entries, log=err.print)
    except BoardError as e:
        fail(escape(str(e)))
    out.print(f"places on {coordinator}: {', '.join(e.board.name for e in entries)} "
              f"(a device: transport: labgrid, board: NAME, tags: {{board: NAME}})")
