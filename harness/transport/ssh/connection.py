"""One persistent connection to a device: the socket (direct TCP with TCP_NODELAY and a
TCP_USER_TIMEOUT, a ProxyCommand, or a ProxyJump chain of direct-tcpip channels), the paramiko
client on it, and reconnection with exponential backoff after failures."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import paramiko

from harness.config.devices import Device
from harness.transport.ssh.config import Endpoint, resolve_endpoint
from harness.transport.ssh.errors import SSHError, UnknownHostKey
from harness.transport.ssh.hostkeys import RecordingReject, fingerprint, is_known, load_known_hosts


def tcp_socket(host: str, port: int, timeout: float, keepalive_s: float, link_timeout_s: float) -> socket.socket:
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
            sock = open_socket(device, ep, host_keys_path, policy, timeout, hops)
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


def open_socket(device: Device, ep: Endpoint, host_keys_path: Path, policy: paramiko.MissingHostKeyPolicy,
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
        return tcp_socket(ep.hostname, ep.port, timeout, device.keepalive_s, device.link_timeout_s)
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
        sock = open_socket(device, ep, path, RecordingReject(path, device.name), timeout, hops)
        t = paramiko.Transport(sock)
        try:
            t.start_client(timeout=timeout)
            key = t.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise SSHError(f"ssh handshake with {ep} failed: {e}") from None
        finally:
            t.close()
        return ep, key, is_known(host_keys, ep, key), path
    finally:
        for h in hops:
            h.close()


@dataclass
class TransferStats:
    connects: int = 0
    commands: int = 0
    bytes_uploaded: int = 0
    files_uploaded: int = 0
    bytes_fetched: int = 0


class Connection:
    """The device's client (and jump clients, and an SFTP session on demand). `open()` connects
    if needed, waiting out the backoff after failures; `mark_broken()` drops a dead link so the
    next `open()` reconnects."""

    BACKOFF_BASE_S = 0.5
    BACKOFF_MAX_S = 8.0

    def __init__(self, device: Device):
        self.device = device
        self.lock = threading.RLock()
        self.client: paramiko.SSHClient | None = None
        self.hops: list[paramiko.SSHClient] = []
        self._sftp: paramiko.SFTPClient | None = None
        self.failures = 0            # consecutive failed connects or broken links
        self.last_failure = 0.0
        self.stats = TransferStats()

    def alive(self) -> bool:
        t = self.client.get_transport() if self.client else None
        return bool(t and t.is_active())

    def open(self, on_connect: Callable[[], None] | None = None) -> None:
        """Connect now unless connected; `on_connect()` runs on a fresh connection and may raise
        SSHError (counted as a failed connect). Raises SSHError with a user-facing message."""
        with self.lock:
            if self.alive():
                return
            self.drop()
            if self.failures:
                wait = min(self.BACKOFF_MAX_S, self.device.timeout_s, self.BACKOFF_BASE_S * 2 ** (self.failures - 1))
                delay = self.last_failure + wait - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                ep = resolve_endpoint(self.device)
                _, path = load_known_hosts(self.device.known_hosts)
                self.client, self.hops = connect_client(self.device, ep, path, RecordingReject(path, self.device.name),
                                                        self.device.connect_timeout_s)
                self.stats.connects += 1
                if on_connect is not None:
                    on_connect()
                self.failures = 0
            except SSHError as e:
                self._failed()
                raise SSHError(f"{self.device.name}: {e}") from None
            except Exception as e:  # anything paramiko may raise while half connected
                self._failed()
                raise SSHError(f"{self.device.name}: ssh connection failed: {e!r}") from None

    def _failed(self) -> None:
        self.drop()
        self.failures += 1
        self.last_failure = time.monotonic()

    def mark_broken(self) -> None:
        # not under self.lock: a lease renewal may find the link dead while a trial holds the lock
        self._failed()

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
            self._sftp.get_channel().settimeout(self.device.link_timeout_s + self.device.connect_timeout_s)
        return self._sftp

    def drop(self) -> None:
        for c in (self._sftp, self.client, *reversed(self.hops)):
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        self._sftp, self.client, self.hops = None, None, []
