"""A built board running in QEMU system mode: boot it, wait for its SSH, stop it, say how it stands.

The board boots the distro's kernel and initrd directly (OpenSBI as RISC-V's firmware), its root file
system from the cache with snapshot=on (every boot starts from the image as built; nothing is written
back), and QEMU's user-mode network forwarding a loopback port to the board's sshd. QEMU runs in a
session of its own (it outlives the command that started it); its pid, console log and QEMU log are in
the board's run/ directory. `stop` kills only the QEMU whose pid file and command line are this board's.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.config.boards import SystemBoard, board_dir
from harness.transport.boards import BoardError
from harness.transport.boards.image import HOST_KEY_PUB, LOGIN_KEY, apt_line, manifest, missing_tools

RUN = "run"


@dataclass
class BoardState:
    """How a board stands (`tensorop boards status`)."""
    name: str
    built: bool
    running: bool
    pid: int = 0
    port: int = 0
    ssh: bool = False                 # the board's sshd answers with its banner
    built_at: str = ""
    build_s: float = 0.0
    boot_s: float = 0.0               # the last boot: QEMU's start to the SSH banner
    problem: str = ""


def run_dir(name: str) -> Path:
    return board_dir(name) / RUN


def qemu_command(board: SystemBoard, home: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    m = manifest(home) or {}
    run = home / RUN
    append = f"root=/dev/vda rw console={board.console} net.ifnames=0"
    return [board.qemu, *board.machine, "-name", f"tensorop-{board.name}",
            "-kernel", str(home / m.get("kernel", "")), "-initrd", str(home / m.get("initrd", "")),
            "-append", append,
            "-drive", f"file={home / 'rootfs.ext4'},format=raw,if=none,id=hd0,snapshot=on",
            "-device", "virtio-blk-device,drive=hd0",
            "-netdev", f"user,id=n0,hostfwd=tcp:{host}:{port}-:22", "-device", "virtio-net-device,netdev=n0",
            "-display", "none", "-monitor", "none", "-serial", f"file:{run / 'console.log'}",
            "-pidfile", str(run / "qemu.pid")]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as QEMU binds its forward: connections of a board just stopped (TIME_WAIT) do not hold the port
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return False
    except OSError as e:
        return e.errno in (errno.EADDRINUSE, errno.EACCES)
    finally:
        s.close()


def ssh_banner(port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> str:
    """The server's SSH identification line, "" when none comes (QEMU's user network accepts the
    connection before the board listens, then drops it)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = s.recv(256)
            return data.decode(errors="replace").strip() if data.startswith(b"SSH-") else ""
    except OSError:
        return ""


def _pid(name: str) -> int:
    try:
        return int((run_dir(name) / "qemu.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _ours(pid: int, board: SystemBoard) -> bool:
    """`pid` is a live QEMU of this board (not a recycled pid)."""
    if pid <= 0:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and os.path.basename(argv[0].decode(errors="replace")) == board.qemu and \
        f"tensorop-{board.name}".encode() in argv


def running_pid(board: SystemBoard) -> int:
    pid = _pid(board.name)
    return pid if _ours(pid, board) else 0


def known_hosts_line(home: Path, port: int, host: str = "127.0.0.1") -> str:
    kind, b64 = (home / HOST_KEY_PUB).read_text().split()[:2]
    return f"[{host}]:{port} {kind} {b64}\n" if port != 22 else f"{host} {kind} {b64}\n"


def write_known_hosts(home: Path, port: int, host: str = "127.0.0.1") -> Path:
    """The board's known_hosts (the host key made at build time, for the address it answers on)."""
    p = home / "known_hosts"
    p.write_text(known_hosts_line(home, port, host))
    os.chmod(p, 0o600)
    return p


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(l.rstrip("\r") for l in text.splitlines()[-lines:]) or "(empty)"


def start(board: SystemBoard, port: int, *, host: str = "127.0.0.1", deadline_s: float | None = None,
          log: Callable[[str], None] = print) -> BoardState:
    """Boot the built board and wait until its sshd answers (and a key login works). Returns its state;
    a BoardError when the port is taken, QEMU stops, or no SSH answers within the deadline (the
    console log's tail shown, QEMU killed)."""
    home = board_dir(board.name)
    pid = running_pid(board)
    if pid:
        return BoardState(board.name, True, True, pid, port, bool(ssh_banner(port, host)))
    if port_in_use(port, host):     # first: it needs nothing installed
        raise BoardError(f"{board.name}: port {host}:{port} is in use by another program; stop it, or give "
                         f"{board.name} another `port:` in devices.yaml")
    miss = [(t, p) for t, p in missing_tools(board) if t == board.qemu or t.startswith("/")]
    if miss:     # the image may be cached while this machine lacks QEMU (a CI machine sharing the cache)
        raise BoardError(f"{board.name}: missing {', '.join(t for t, _ in miss)} to boot it; install with: "
                         f"{apt_line(p for _, p in miss)}")
    run = home / RUN
    run.mkdir(exist_ok=True)
    for f in ("console.log", "qemu.log", "qemu.pid"):
        (run / f).unlink(missing_ok=True)
    write_known_hosts(home, port, host)
    cmd = qemu_command(board, home, port, host)
    (run / "command").write_text(" ".join(cmd) + "\n")
    deadline_s = board.boot_deadline_s if deadline_s is None else deadline_s
    t0 = time.monotonic()
    with open(run / "qemu.log", "wb") as qlog:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                start_new_session=True)
    log(f"{board.name}: booting (QEMU pid {proc.pid}, SSH on {host}:{port}; console: {run / 'console.log'})")
    while True:
        if proc.poll() is not None:
            raise BoardError(f"{board.name}: QEMU exited ({proc.returncode}) before the board answered SSH:\n"
                             f"{tail(run / 'qemu.log', 10)}\nconsole log tail:\n{tail(run / 'console.log')}")
        if ssh_banner(port, host):
            break
        if time.monotonic() - t0 > deadline_s:
            _kill(proc.pid)
            raise BoardError(f"{board.name}: no SSH answer on {host}:{port} within {deadline_s:.0f} s of boot; "
                             f"QEMU stopped. Console log tail ({run / 'console.log'}):\n{tail(run / 'console.log')}")
        time.sleep(1.0)
    boot_s = time.monotonic() - t0
    (run / "boot_s").write_text(f"{boot_s:.1f}\n")
    login_check(board, port, host)
    log(f"{board.name}: up in {boot_s:.0f} s (ssh -i {home / LOGIN_KEY} -p {port} {board.user}@{host})")
    return BoardState(board.name, True, True, proc.pid, port, True, boot_s=boot_s)


def login_check(board: SystemBoard, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> None:
    """A key login as the board's user with its recorded host key (the same checks the SSH transport
    makes); a BoardError saying what failed."""
    import paramiko      # a dependency of the ssh transport, needed only once a board is up

    home = board_dir(board.name)
    t0 = time.monotonic()
    while True:
        client = paramiko.SSHClient()
        client.load_host_keys(str(home / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(host, port=port, username=board.user, key_filename=str(home / LOGIN_KEY),
                           allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=30, auth_timeout=30)
            _, out, _ = client.exec_command("id -un", timeout=30)
            who = out.read().decode().strip()
            if who != board.user:
                raise BoardError(f"{board.name}: logged in as {who!r}, expected {board.user!r}")
            return
        except BoardError:
            raise
        except (paramiko.SSHException, OSError) as e:
            if time.monotonic() - t0 > timeout:
                raise BoardError(f"{board.name}: sshd answers on {host}:{port} but the key login as "
                                 f"{board.user} fails: {e}") from None
            time.sleep(2.0)
        finally:
            client.close()


def _kill(pid: int, grace_s: float = 10.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    t0 = time.monotonic()
    while time.monotonic() - t0 < grace_s:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.1)


def stop(board: SystemBoard) -> bool:
    """Stop the board's QEMU (only the process whose pid file and command line are this board's);
    False when it was not running."""
    pid = running_pid(board)
    if not pid:
        (run_dir(board.name) / "qemu.pid").unlink(missing_ok=True)
        return False
    _kill(pid)
    if _ours(pid, board):
        raise BoardError(f"{board.name}: QEMU (pid {pid}) did not stop")
    (run_dir(board.name) / "qemu.pid").unlink(missing_ok=True)
    return True


def state(board: SystemBoard, port: int = 0, host: str = "127.0.0.1") -> BoardState:
    home = board_dir(board.name)
    m = manifest(home)
    pid = running_pid(board)
    st = BoardState(board.name, m is not None, bool(pid), pid, port,
                    built_at=(m or {}).get("built_at", ""), build_s=(m or {}).get("build_s", 0.0))
    if pid and port:
        st.ssh = bool(ssh_banner(port, host))
    try:
        st.boot_s = float((home / RUN / "boot_s").read_text())
    except (OSError, ValueError):
        pass
    return st
