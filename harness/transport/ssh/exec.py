"""Running one command on the device: the channel loop (deadline on the host, stderr drained
so the window never fills, a lost link noticed), and the wrapper protocol around trials
(harness/transport/scripts/ssh_wrapper.sh: run directory, request on stdin, channel on fd 3, time limit,
kill of the whole trial session at its end, and an exit trailer on stderr)."""
from __future__ import annotations

import math
import secrets
import shlex
import socket
import time

from harness.core.records import RunResult
from harness.transport.scripts import script
from harness.transport.base import MAX_CAPTURE, signal_name
from harness.transport.ssh.connection import Connection

HOST_GRACE_S = 3.0          # the host waits this much longer than the device-side limit
EXIT_TRAILER = "tensorop-exit:"
MARKER_VAR = "TENSOROP_TRIAL"


def new_trial_id() -> str:
    """The marker put into a trial's environment; every process carrying it dies with the trial."""
    return secrets.token_hex(8)


def channel_file(trial_id: str) -> str:
    return f".tensorop-channel.{trial_id}"


def profile_file(trial_id: str) -> str:
    return f".tensorop-profile.{trial_id}"


def exec_command(conn: Connection, command: str, deadline_s: float, stdin: bytes = b"") -> RunResult:
    """Run one command string, `stdin` fed to it; wait at most deadline_s on the host. Never raises."""
    name = conn.device.name
    start = time.monotonic()
    deadline = start + deadline_s
    try:
        chan = conn.client.get_transport().open_session(timeout=min(deadline_s, conn.device.connect_timeout_s))
    except Exception as e:
        conn.mark_broken()
        return RunResult(None, "", "", time.monotonic() - start,
                         device_error=f"{name}: cannot open an ssh channel: {e}")
    conn.stats.commands += 1
    out, err = bytearray(), bytearray()
    try:
        chan.exec_command(command)
        if stdin:
            chan.settimeout(max(0.1, deadline - time.monotonic()))
            chan.sendall(stdin)
        chan.shutdown_write()
        chan.settimeout(0.25)   # blocking reads wake at once on data or EOF; this bounds each wait
        for read, buf in ((chan.recv, out), (chan.recv_stderr, err)):
            while True:
                while buf is out and chan.recv_stderr_ready():   # keep stderr from filling the window
                    _append(err, chan.recv_stderr(65536))
                if time.monotonic() > deadline:
                    raise TimeoutError
                if not conn.alive():
                    raise ConnectionError("connection lost")
                try:
                    data = read(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                _append(buf, data)
        left = deadline - time.monotonic()
        if not chan.status_event.wait(max(0.0, left)):
            raise TimeoutError
        rc = chan.recv_exit_status()
        wall = time.monotonic() - start
        if rc == -1 and not conn.alive():
            raise ConnectionError("connection lost")
        return RunResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), wall)
    except (TimeoutError, socket.timeout):
        conn.mark_broken()
        return RunResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                         time.monotonic() - start,
                         device_error=f"{name}: no answer within {deadline_s:.1f} s "
                                      f"(link down or device hung); connection dropped")
    except Exception as e:
        conn.mark_broken()
        return RunResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                         time.monotonic() - start,
                         device_error=f"{name}: connection lost after {time.monotonic() - start:.1f} s: {e}")
    finally:
        try:
            chan.close()
        except Exception:
            pass


def wrapped(prev: str, rundir: str, keep: bool, limit_s: float, trial_id: str, links: list[tuple[str, str]],
            cmd: list[str], env: dict[str, str]) -> str:
    """The command line that runs `cmd` under the wrapper (see harness/transport/scripts/ssh_wrapper.sh)."""
    env_args = [f"{k}={v}" for k, v in env.items()]
    argv = ["sh", "-c", script("ssh_wrapper.sh"), "sh", prev, rundir, "1" if keep else "0",
            str(max(1, math.ceil(limit_s))), trial_id,
            *(f"{b}:{n}" for b, n in links), "--", *(["env", *env_args] if env_args else []), *cmd]
    return " ".join(shlex.quote(a) for a in argv)


def run_wrapped(conn: Connection, prev: str, rundir: str, keep: bool, timeout_s: float, links,
                cmd: list[str], env: dict[str, str], stdin: bytes = b"", trial_id: str = "") -> RunResult:
    """One wrapped run; the RunResult has the program's status (not the wrapper's), timed_out,
    or device_error when the transport or the wrapper itself failed."""
    trial_id = trial_id or new_trial_id()
    r = exec_command(conn, wrapped(prev, rundir, keep, timeout_s, trial_id, links, cmd, env),
                     timeout_s + HOST_GRACE_S, stdin)
    if r.device_error:
        return RunResult(None, r.stdout, r.stderr, r.wall_s, command=tuple(cmd), device_error=r.device_error)
    stderr, status, timed_out = split_trailer(r.stderr)
    if status is None:   # the wrapper did not finish: it could not set up the run directory
        return RunResult(r.returncode, r.stdout, stderr, r.wall_s, command=tuple(cmd),
                         device_error=f"{conn.device.name}: remote wrapper failed (exit {r.returncode}): "
                                      f"{stderr.strip()[-300:]}")
    if timed_out:
        return RunResult(None, r.stdout, stderr, r.wall_s, timed_out=True, signal="SIGKILL", command=tuple(cmd))
    rc = -(status - 128) if status > 128 else status
    return RunResult(rc, r.stdout, stderr, r.wall_s, signal=signal_name(rc), command=tuple(cmd))


def _append(buf: bytearray, data: bytes, limit: int = MAX_CAPTURE + 4096) -> None:
    if len(buf) < limit:
        buf += data[:limit - len(buf)]


def split_trailer(stderr: str) -> tuple[str, int | None, bool]:
    i = stderr.rfind(EXIT_TRAILER)
    if i < 0:
        return stderr, None, False
    parts = stderr[i + len(EXIT_TRAILER):].split()
    try:
        status, timed_out = int(parts[0]), parts[1] == "1"
    except (IndexError, ValueError):
        return stderr, None, False
    body = stderr[:i]
    if body.endswith("\n"):
        body = body[:-1]
    return body, status, timed_out
