"""The boards as places of a labgrid lab: an exporter publishing each running board's sshd as a
`NetworkService` resource (address, port, username), and one place per board matching it, tagged
`board=<name>` and `arch=<arch>`, so a device with `transport: labgrid` and `tags: {board: rv64-board}`
reaches the board the way a shared lab's board is reached (reserve, acquire, SSH, release).

    tensorop boards places --coordinator 127.0.0.1:20408     # exporter started, places created
    tensorop boards places --coordinator 127.0.0.1:20408 --stop

labgrid's own tools do the work (`labgrid-exporter`, `labgrid-client`, from the labgrid package that
the labgrid transport uses); the exporter runs in a session of its own, its pid and configuration in
the boards' cache directory (labgrid/).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.config.boards import SystemBoard, boards_cache
from harness.transport.boards import BoardError

EXPORTER = "tensorop-boards"     # the exporter's name: resources are EXPORTER/<board>/NetworkService
_ARCH = {"riscv64": "riscv64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Published:
    board: SystemBoard
    host: str
    port: int


def exporter_yaml(entries: list[Published]) -> str:
    """labgrid-exporter's configuration: one resource group per board, its NetworkService."""
    return "".join(f"{e.board.name}:\n  NetworkService:\n    address: {e.host}\n    port: {e.port}\n"
                   f"    username: {e.board.user}\n" for e in entries)


def place_commands(entries: list[Published], exporter: str = EXPORTER) -> list[list[str]]:
    """labgrid-client arguments that make one place per board (created if missing, matched to its
    NetworkService, tagged)."""
    out = []
    for e in entries:
        p = e.board.name
        out += [["-p", p, "create"], ["-p", p, "add-match", f"{exporter}/{p}/NetworkService"],
                ["-p", p, "set-tags", f"board={p}", f"arch={_ARCH[e.board.debian_arch]}"]]
    return out


def _tool(name: str) -> str:
    """A labgrid tool of this Python's environment (the labgrid package tensorop depends on), else PATH's."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise BoardError(f"{name} not found: labgrid is a dependency of tensorop (pip install labgrid)")
    return found


def _home() -> Path:
    return boards_cache() / "labgrid"


def _client(coordinator: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "LG_COORDINATOR": coordinator}
    return subprocess.run([_tool("labgrid-client"), *args], env=env, capture_output=True, text=True, timeout=60)


def publish(coordinator: str, entries: list[Published], *, log: Callable[[str], None] = print,
            timeout_s: float = 30.0) -> Path:
    """Start (or restart) the exporter with the boards' NetworkServices and make their places."""
    unpublish()
    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "exporter.yaml"
    cfg.write_text(exporter_yaml(entries))
    with open(home / "exporter.log", "wb") as out:
        proc = subprocess.Popen([_tool("labgrid-exporter"), "-c", coordinator, "-n", EXPORTER, "--hostname",
                                 entries[0].host if entries else "127.0.0.1", str(cfg)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (home / "exporter.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout_s
    want = [f"{EXPORTER}/{e.board.name}/NetworkService" for e in entries]
    while True:
        r = _client(coordinator, ["resources"])
        if r.returncode == 0 and all(w in r.stdout for w in want):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            unpublish()
            tail = (home / "exporter.log").read_text(errors="replace")[-1500:]
            raise BoardError(f"labgrid exporter did not publish the boards on {coordinator}: "
                             f"{(r.stderr or '').strip()[-300:]}\n{tail}")
        time.sleep(0.3)
    for args in place_commands(entries):
        r = _client(coordinator, args)
        if r.returncode != 0 and not (args[2] == "create" and "already exists" in r.stderr) and \
                not (args[2] == "add-match" and "already exists" in r.stderr):
            raise BoardError(f"labgrid-client {' '.join(args)}: {r.stderr.strip()[-400:]}")
    log(f"labgrid: places {', '.join(e.board.name for e in entries)} on {coordinator} "
        f"(exporter {EXPORTER}, pid {proc.pid})")
    return cfg


def unpublish() -> bool:
    """Stop the exporter started by `publish` (its places stay, without a resource, as labgrid keeps them)."""
    pidfile = _home() / "exporter.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    pidfile.unlink(missing_ok=True)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"labgrid-exporter" not in cmd:
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    return True
