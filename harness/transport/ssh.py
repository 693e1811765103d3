"""SSH transport: a lab board (or GPU server) that only needs an SSH server and a POSIX shell.

    k1:
      arch: riscv64
      transport: ssh
      host: bpi-f3.lab            # or a Host alias of ~/.ssh/config (HostName, Port, User,
      user: bench                 #   IdentityFile and ProxyJump are honoured)
      key: ~/.ssh/id_ed25519      # else IdentityFile / default keys / ssh-agent; never a password
      workdir: /tmp/tensorop      # blobs/ (uploads by content hash), runs/ (one dir per run), lock
      known_hosts: ~/.ssh/known_hosts   # unknown host keys are refused: `tensorop devices trust k1`

One persistent paramiko connection per device, TCP_NODELAY on its socket (without it every
command pays ~45 ms of Nagle/delayed-ACK), TCP keepalive, ssh keepalives and TCP_USER_TIMEOUT so
a dead link surfaces as an error within `link_timeout_s` instead of hanging.

Uploads go to <workdir>/blobs/<sha256> once; each run gets <workdir>/runs/<id>/ with hard links
(so rpath $ORIGIN finds the shared libraries beside the executable), and is removed afterwards.
The time limit is enforced on the device (a sh wrapper starts the program in its own session
and SIGKILLs the whole process group at the limit) and on the host (a deadline on the channel).
Every failure of the transport comes back as RunResult.device_error.
"""
from __future__ import annotations

import base64
import hashlib
import math
import os
import secrets
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from ..config.devices import Device
from ..records import Artifact, RunResult
from ..workspace import Workspace
from .base import MAX_CAPTURE, Transport, is_qemu, signal_name

HOST_GRACE_S = 3.0          # the host waits this much longer than the device-side limit
EXIT_TRAILER = "tensorop-exit:"

# The device-side wrapper. Arguments: PREV RUNDIR LIMIT_S LINK... -- COMMAND...
#   PREV     a previous run directory to remove first ("" for none): cleanup costs no round trip
#   RUNDIR   created if needed, the working directory of COMMAND
#   LINK     BLOB:NAME, hard-linked (or copied) into RUNDIR as NAME
# COMMAND runs in its own session (setsid) so the watchdog can SIGKILL its whole process group
# at LIMIT_S. The last stderr line is "tensorop-exit: <status> <timed_out>".
WRAPPER = r'''
p=$1; d=$2; t=$3; shift 3
[ -n "$p" ] && rm -rf -- "$p"
mkdir -p -- "$d" || { echo "tensorop: cannot create $d" >&2; exit 125; }
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  b=${1%%:*}; n=${1#*:}
  ln -f -- "$b" "$d/$n" 2>/dev/null || cp -- "$b" "$d/$n" || { echo "tensorop: cannot place $n in $d" >&2; exit 125; }
  shift
done
shift
cd -- "$d" || exit 125
ulimit -c 0 2>/dev/null
rm -f .tensorop-timedout
if command -v setsid >/dev/null 2>&1; then
  setsid "$@" </dev/null &
else
  set -m; "$@" </dev/null &
fi
c=$!
( sleep "$t"; if kill -0 "$c" 2>/dev/null; then : > .tensorop-timedout; kill -KILL -"$c" 2>/dev/null || kill -KILL "$c"; fi ) </dev/null >/dev/null 2>&1 &
w=$!
wait "$c"; rc=$?
kill "$w" 2>/dev/null
o=0; [ -f .tensorop-timedout ] && o=1
printf '\n%s %s %s\n' "tensorop-exit:" "$rc" "$o" >&2
exit "$rc"
'''


class SSHError(Exception):
    """A connection problem, with a message meant for the user."""


class UnknownHostKey(SSHError):
    def __init__(self, message: str, host: str, key: paramiko.PKey):
        super().__init__(message)
        self.host, self.key = host, key


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path)) if path else path


@dataclass
class Endpoint:
    """Where and how to connect, after ~/.ssh/config."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: list[str] = field(default_factory=list)
    jumps: list["Endpoint"] = field(default_factory=list)
    proxy_command: str = ""

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.hostname}:{self.port}"


def _load_ssh_config(path: str) -> paramiko.SSHConfig:
    p = Path(_expand(path or "~/.ssh/config"))
    if p.is_file():
        return paramiko.SSHConfig.from_path(str(p))
    return paramiko.SSHConfig()


def resolve_endpoint(device: Device, cfg: paramiko.SSHConfig | None = None) -> Endpoint:
    """devices.yaml fields override ~/.ssh/config (as ssh's command line does)."""
    cfg = cfg or _load_ssh_config(device.ssh_config)
    return _endpoint(cfg, device.host, device.user, device.port, [device.key] if device.key else [], depth=0)


def _endpoint(cfg: paramiko.SSHConfig, host: str, user: str, port: int, keys: list[str], depth: int) -> Endpoint:
    if depth > 8:
        raise SSHError(f"ProxyJump chain too long at {host!r}")
    c = cfg.lookup(host)
    ep = Endpoint(alias=host, hostname=c.get("hostname", host), port=int(port or c.get("port", 22)),
                  user=user or c.get("user", "") or os.environ.get("USER", "root"),
                  key_files=[_expand(k) for k in (keys or c.get("identityfile", []))])
    # OpenSSH substitutes %h etc. in IdentityFile; paramiko does it for some keys; keep existing files
    ep.key_files = [k for k in ep.key_files if Path(k).is_file()] or ([] if not keys else ep.key_files)
    jump = c.get("proxyjump", "")
    if jump and jump.lower() != "none":
        for hop in jump.split(","):
            hop = hop.strip()
            if hop.startswith("ssh://"):
                hop = hop[len("ssh://"):]
            u, _, hp = hop.rpartition("@")
            h, _, p = hp.partition(":")
            if hp.startswith("["):
                h, _, rest = hp[1:].partition("]")
                p = rest.lstrip(":")
            ep.jumps.append(_endpoint(cfg, h, u, int(p) if p else 0, [], depth + 1))
    elif c.get("proxycommand", "") and c["proxycommand"].lower() != "none":
        ep.proxy_command = c["proxycommand"]
    return ep


def load_known_hosts(path: str) -> tuple[paramiko.HostKeys, Path]:
    p = Path(_expand(path or "~/.ssh/known_hosts"))
    keys = paramiko.HostKeys()
    if p.is_file():
        keys.load(str(p))
    return keys, p


class _RecordingReject(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys, but keep the key so the message can show its fingerprint."""

    def __init__(self, known_hosts: Path, device_name: str):
        self.known_hosts, self.device_name = known_hosts, device_name

    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(
            f"unknown host key for {hostname} ({key.get_name()} {fingerprint(key)}), not in {self.known_hosts}; "
            f"refusing to connect. If this fingerprint is the device's, run "
            f"`tensorop devices trust {self.device_name}`", hostname, key)


class _AcceptAndRecord(paramiko.MissingHostKeyPolicy):
    def __init__(self):
        self.key = None

    def missing_host_key(self, client, hostname, key):
        self.key = key


def _tcp_socket(host: str, port: int, timeout: float, keepalive_s: float, link_timeout_s: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, val in (("TCP_KEEPIDLE", max(1, int(keepalive_s))), ("TCP_KEEPINTVL", max(1, int(keepalive_s))),
                     ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", int(link_timeout_s * 1000))):
        if hasattr(socket, opt):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), val)
            except OSError:
                pass
    return sock


def connect_client(device: Device, ep: Endpoint, host_keys_path: Path, policy: paramiko.MissingHostKeyPolicy,
                   timeout: float, sock=None) -> tuple[paramiko.SSHClient, list[paramiko.SSHClient]]:
    """Connect (through ProxyJump hops if any); returns the client and the jump clients to close."""
    hops: list[paramiko.SSHClient] = []
    try:
        if sock is None:
            sock = _open_socket(device, ep, host_keys_path, policy, timeout, hops)
        client = paramiko.SSHClient()
        if host_keys_path.is_file():
            client.load_host_keys(str(host_keys_path))
        client.set_missing_host_key_policy(policy)
        try:
            client.connect(ep.hostname, port=ep.port, username=ep.user, key_filename=ep.key_files or None,
                           allow_agent=True, look_for_keys=not ep.key_files, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, sock=sock,
                           password=None, passphrase=None)
        except paramiko.BadHostKeyException as e:
            raise SSHError(
                f"HOST KEY MISMATCH for {ep.known_hosts_name}: {host_keys_path} has {fingerprint(e.expected_key)}, "
                f"the server presented {e.key.get_name()} {fingerprint(e.key)}. Someone may be intercepting the "
                f"connection, or the device was reinstalled; refusing to connect. If the new key is right, delete "
                f"the old line from {host_keys_path} and run `tensorop devices trust {device.name}`") from None
        except paramiko.AuthenticationException as e:
            tried = ", ".join(ep.key_files) if ep.key_files else "default keys in ~/.ssh"
            raise SSHError(f"authentication failed for {ep}: no key accepted (tried {tried} and ssh-agent): {e}. "
                           f"tensorop never uses passwords; set `key:` in devices.yaml, IdentityFile in "
                           f"~/.ssh/config, or load the key into ssh-agent") from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            if isinstance(e, UnknownHostKey):
                raise
            raise SSHError(f"ssh to {ep} failed: {e}") from None
        t = client.get_transport()
        t.set_keepalive(max(1, int(device.keepalive_s)))
        return client, hops
    except BaseException:
        for h in hops:
            h.close()
        raise


def _open_socket(device: Device, ep: Endpoint, host_keys_path: Path, policy: paramiko.MissingHostKeyPolicy,
                 timeout: float, hops: list[paramiko.SSHClient]):
    """A socket-like channel to `ep`: through its ProxyJump chain (the hop clients are appended
    to `hops` for the caller to close), its ProxyCommand, or a direct TCP connection."""
    if ep.jumps:
        prev = None
        for hop in ep.jumps:
            c, more = connect_client(device, hop, host_keys_path, policy, timeout,
                                     sock=_channel_to(prev, hop, timeout) if prev else None)
            hops += more + [c]
            prev = c
        return _channel_to(prev, ep, timeout)
    if ep.proxy_command:
        return paramiko.ProxyCommand(ep.proxy_command.replace("%h", ep.hostname).replace("%p", str(ep.port))
                                     .replace("%r", ep.user))
    try:
        return _tcp_socket(ep.hostname, ep.port, timeout, device.keepalive_s, device.link_timeout_s)
    except OSError as e:
        raise SSHError(f"cannot reach {ep.hostname}:{ep.port}: {e.strerror or e}") from None


def _channel_to(client: paramiko.SSHClient, ep: Endpoint, timeout: float):
    try:
        return client.get_transport().open_channel("direct-tcpip", (ep.hostname, ep.port), ("127.0.0.1", 0),
                                                   timeout=timeout)
    except (paramiko.SSHException, OSError) as e:
        raise SSHError(f"ProxyJump: cannot open a tunnel to {ep.hostname}:{ep.port}: {e}") from None


def scan_host_key(device: Device, timeout: float = 10.0) -> tuple[Endpoint, paramiko.PKey, bool, Path]:
    """The device's host key as the server presents it, for `tensorop devices trust`.
    Returns (endpoint, key, already_known, known_hosts path). No authentication happens."""
    ep = resolve_endpoint(device)
    host_keys, path = load_known_hosts(device.known_hosts)
    hops: list[paramiko.SSHClient] = []
    try:
        # the jump hosts must already be trusted
        sock = _open_socket(device, ep, path, _RecordingReject(path, device.name), timeout, hops)
        t = paramiko.Transport(sock)
        try:
            t.start_client(timeout=timeout)
            key = t.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise SSHError(f"ssh handshake with {ep} failed: {e}") from None
        finally:
            t.close()
        known = host_keys.lookup(ep.known_hosts_name)
        already = bool(known) and key.get_name() in known and known[key.get_name()] == key
        return ep, key, already, path
    finally:
        for h in hops:
            h.close()


def trust_host_key(path: Path, ep: Endpoint, key: paramiko.PKey) -> None:
    """Append `[host]:port type base64` to known_hosts (created 0600 with its directory)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{ep.known_hosts_name} {key.get_name()} {key.get_base64()}\n"
    existing = path.read_text() if path.is_file() else ""
    with open(path, "a") as f:
        if existing and not existing.endswith("\n"):
            f.write("\n")
        f.write(line)
    os.chmod(path, 0o600)


@dataclass
class TransferStats:
    connects: int = 0
    commands: int = 0
    bytes_uploaded: int = 0
    files_uploaded: int = 0
    bytes_fetched: int = 0


class SSHTransport(Transport):
    kind = "ssh"
    BACKOFF_BASE_S = 0.5
    BACKOFF_MAX_S = 8.0

    def __init__(self, device: Device, ws: Workspace):
        super().__init__(device, ws)
        self.stats = TransferStats()
        self._lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._hops: list[paramiko.SSHClient] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._blobs: set[str] = set()
        self._pending_cleanup = ""
        self._failures = 0
        self._last_failure = 0.0
        self._run_seq = 0
        self._hash_cache: dict[tuple[str, int, int], str] = {}
        wd = device.workdir.rstrip("/") or "/tmp/tensorop"
        self.workdir = wd[2:] if wd.startswith("~/") else wd   # relative = the login's home

    # ---- connection ------------------------------------------------------------------------
    def _alive(self) -> bool:
        t = self._client.get_transport() if self._client else None
        return bool(t and t.is_active())

    def connect(self) -> None:
        """Connect now (with backoff after failures); raises SSHError with a user-facing message."""
        with self._lock:
            if self._alive():
                return
            self._drop()
            if self._failures:
                wait = min(self.BACKOFF_MAX_S, self.device.timeout_s,
                           self.BACKOFF_BASE_S * 2 ** (self._failures - 1))
                delay = self._last_failure + wait - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                ep = resolve_endpoint(self.device)
                _, path = load_known_hosts(self.device.known_hosts)
                client, hops = connect_client(self.device, ep, path, _RecordingReject(path, self.device.name),
                                              self.device.connect_timeout_s)
                self._client, self._hops = client, hops
                self.stats.connects += 1
                # one round trip: the work dirs exist and we learn which blobs are there already
                r = self._exec(f"mkdir -p {shlex.quote(self.workdir)}/blobs {shlex.quote(self.workdir)}/runs && "
                               f"ls {shlex.quote(self.workdir)}/blobs", self.device.connect_timeout_s)
                if r.device_error or r.returncode != 0:
                    raise SSHError(r.device_error or f"cannot create {self.workdir} on {self.device.name}: "
                                   f"{r.stderr.strip()[-300:]}")
                self._blobs = {l.strip() for l in r.stdout.splitlines() if len(l.strip()) == 64}
                self._failures = 0
            except SSHError as e:
                self._drop()
                self._failures += 1
                self._last_failure = time.monotonic()
                raise SSHError(f"{self.device.name}: {e}") from None
            except Exception as e:  # anything paramiko may raise while half connected
                self._drop()
                self._failures += 1
                self._last_failure = time.monotonic()
                raise SSHError(f"{self.device.name}: ssh connection failed: {e!r}") from None

    def _drop(self) -> None:
        for c in (self._sftp, self._client, *reversed(self._hops)):
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        self._sftp, self._client, self._hops = None, None, []

    def close(self) -> None:
        with self._lock:
            if self._pending_cleanup and self._alive():
                self._exec(f"rm -rf -- {shlex.quote(self._pending_cleanup)}", 5.0)
            self._pending_cleanup = ""
            self._drop()

    @property
    def connected(self) -> bool:
        return self._alive()

    @property
    def failures(self) -> int:
        return self._failures

    # ---- low-level execution ---------------------------------------------------------------
    def _exec(self, command: str, deadline_s: float) -> RunResult:
        """Run one command string; wait at most deadline_s on the host. Never raises."""
        start = time.monotonic()
        deadline = start + deadline_s
        try:
            chan = self._client.get_transport().open_session(timeout=min(deadline_s, self.device.connect_timeout_s))
        except Exception as e:
            self._mark_broken()
            return RunResult(None, "", "", time.monotonic() - start,
                             device_error=f"{self.device.name}: cannot open an ssh channel: {e}")
        self.stats.commands += 1
        out, err = bytearray(), bytearray()
        try:
            chan.exec_command(command)
            chan.shutdown_write()
            chan.settimeout(0.25)   # blocking reads wake at once on data or EOF; this bounds each wait
            for read, buf in ((chan.recv, out), (chan.recv_stderr, err)):
                while True:
                    while buf is out and chan.recv_stderr_ready():   # keep stderr from filling the window
                        _append(err, chan.recv_stderr(65536))
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    if not self._alive():
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
            if rc == -1 and not self._alive():
                raise ConnectionError("connection lost")
            return RunResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), wall)
        except TimeoutError:
            self._mark_broken()
            return RunResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                             time.monotonic() - start,
                             device_error=f"{self.device.name}: no answer within {deadline_s:.1f} s "
                                          f"(link down or device hung); connection dropped")
        except Exception as e:
            self._mark_broken()
            return RunResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                             time.monotonic() - start,
                             device_error=f"{self.device.name}: connection lost after "
                                          f"{time.monotonic() - start:.1f} s: {e}")
        finally:
            try:
                chan.close()
            except Exception:
                pass

    def _mark_broken(self) -> None:
        # not under self._lock: a lease renewal may find the link dead while a trial holds the lock
        self._failures += 1
        self._last_failure = time.monotonic()
        self._drop()

    def _wrapped(self, prev: str, rundir: str, limit_s: float, links: list[tuple[str, str]],
                 cmd: list[str]) -> str:
        env = [f"{k}={v}" for k, v in self.device.env.items()]
        argv = ["sh", "-c", WRAPPER, "sh", prev, rundir, str(max(1, math.ceil(limit_s))),
                *(f"{b}:{n}" for b, n in links), "--", *(["env", *env] if env else []), *cmd]
        return " ".join(shlex.quote(a) for a in argv)

    def _run_wrapped(self, prev: str, rundir: str, timeout_s: float, links, cmd: list[str]) -> RunResult:
        r = self._exec(self._wrapped(prev, rundir, timeout_s, links, cmd), timeout_s + HOST_GRACE_S)
        if r.device_error:
            return RunResult(None, r.stdout, r.stderr, r.wall_s, command=tuple(cmd), device_error=r.device_error)
        stderr, status, timed_out = _split_trailer(r.stderr)
        if status is None:   # the wrapper did not finish: it could not set up the run directory
            return RunResult(r.returncode, r.stdout, stderr, r.wall_s, command=tuple(cmd),
                             device_error=f"{self.device.name}: remote wrapper failed (exit {r.returncode}): "
                                          f"{stderr.strip()[-300:]}")
        if timed_out:
            return RunResult(None, r.stdout, stderr, r.wall_s, timed_out=True, signal="SIGKILL", command=tuple(cmd))
        rc = -(status - 128) if status > 128 else status
        return RunResult(rc, r.stdout, stderr, r.wall_s, signal=signal_name(rc), command=tuple(cmd))

    # ---- uploads ---------------------------------------------------------------------------
    def _hash(self, path: Path) -> str:
        st = path.stat()
        k = (str(path), st.st_size, st.st_mtime_ns)
        h = self._hash_cache.get(k)
        if h is None:
            d = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    d.update(chunk)
            h = self._hash_cache[k] = d.hexdigest()
        return h

    def _blob(self, path: Path) -> str:
        """Remote path of `path`'s content, uploading it once."""
        h = self._hash(path)
        remote = f"{self.workdir}/blobs/{h}"
        if h in self._blobs:
            return remote
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
            self._sftp.get_channel().settimeout(self.device.link_timeout_s + self.device.connect_timeout_s)
        tmp = f"{remote}.tmp.{secrets.token_hex(4)}"
        size = path.stat().st_size
        self._sftp.put(str(path), tmp, confirm=True)
        self._sftp.chmod(tmp, 0o755)
        self._sftp.posix_rename(tmp, remote)
        self._blobs.add(h)
        self.stats.bytes_uploaded += size
        self.stats.files_uploaded += 1
        return remote

    # ---- Transport API ---------------------------------------------------------------------
    def _prefix(self, plugin_remote: str | None) -> list[str]:
        prefix = [self.ws.expand(a).replace("{workdir}", self.workdir) for a in self.device.runner]
        if plugin_remote and prefix and is_qemu(prefix[0]):
            prefix[1:1] = ["-plugin", plugin_remote]
        return prefix

    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float,
            fetch: list[str] = (), count_insns: bool = False) -> RunResult:
        exe_name = "driver"
        shown = [*self._prefix(None), f"./{exe_name}", *args]
        with self._lock:
            try:
                self.connect()
            except SSHError as e:
                return RunResult(None, "", "", 0.0, command=tuple(shown), device_error=str(e))
            try:
                links = [(self._blob(artifact.executable), exe_name)]
                links += [(self._blob(Path(lib)), Path(lib).name) for lib in artifact.runtime_libs]
                plugin = None
                if count_insns and self.device.runner and is_qemu(self.device.runner[0]) \
                        and self.ws.qemu_plugin.is_file():
                    plugin = self._blob(self.ws.qemu_plugin)
            except Exception as e:
                self._mark_broken()
                return RunResult(None, "", "", 0.0, command=tuple(shown),
                                 device_error=f"{self.device.name}: upload failed: {e}")
            self._run_seq += 1
            rundir = f"{self.workdir}/runs/{os.getpid()}-{self._run_seq}-{secrets.token_hex(3)}"
            cmd = [*self._prefix(plugin), f"./{exe_name}", *args]
            prev, self._pending_cleanup = self._pending_cleanup, rundir
            r = self._run_wrapped(prev, rundir, timeout_s, links, cmd)
            if r.device_error:
                return r
            files = {}
            try:
                if fetch:
                    if self._sftp is None:
                        self._sftp = self._client.open_sftp()
                        self._sftp.get_channel().settimeout(self.device.link_timeout_s + self.device.connect_timeout_s)
                    for name in fetch:
                        if "/" in name or name in ("", ".", ".."):
                            continue
                        try:
                            with self._sftp.open(f"{rundir}/{name}", "rb") as f:
                                f.prefetch()
                                files[name] = f.read()
                                self.stats.bytes_fetched += len(files[name])
                        except FileNotFoundError:
                            pass
            except Exception as e:
                self._mark_broken()
                return RunResult(None, r.stdout, r.stderr, r.wall_s, command=r.command,
                                 device_error=f"{self.device.name}: fetching outputs failed: {e}")
            return RunResult(r.returncode, r.stdout, r.stderr, r.wall_s, timed_out=r.timed_out, signal=r.signal,
                             files=files, command=r.command)

    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        # Not under self._lock while connected: lease renewals run while a trial holds it
        # (paramiko channels are independent); the connection is only replaced under the lock.
        if not self._alive():
            try:
                self.connect()
            except SSHError as e:
                return RunResult(None, "", "", 0.0, command=tuple(argv), device_error=str(e))
        client = self._client
        if client is None:
            return RunResult(None, "", "", 0.0, command=tuple(argv), device_error=f"{self.device.name}: not connected")
        return self._run_wrapped("", self.workdir, timeout_s, [], list(argv))


def _append(buf: bytearray, data: bytes, limit: int = MAX_CAPTURE + 4096) -> None:
    if len(buf) < limit:
        buf += data[:limit - len(buf)]


def _split_trailer(stderr: str) -> tuple[str, int | None, bool]:
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
