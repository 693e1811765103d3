"""Host keys: known_hosts, refusing unknown keys (with the fingerprint to check), and
`tensorop devices trust` (append the key the server presents)."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import paramiko

from harness.transport.ssh.config import Endpoint, expand
from harness.transport.ssh.errors import UnknownHostKey


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def load_known_hosts(path: str) -> tuple[paramiko.HostKeys, Path]:
    p = Path(expand(path or "~/.ssh/known_hosts"))
    keys = paramiko.HostKeys()
    if p.is_file():
        keys.load(str(p))
    return keys, p


class RecordingReject(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys, but keep the key so the message can show its fingerprint."""

    def __init__(self, known_hosts: Path, device_name: str):
        self.known_hosts, self.device_name = known_hosts, device_name

    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(
            f"unknown host key for {hostname} ({key.get_name()} {fingerprint(key)}), not in {self.known_hosts}; "
            f"refusing to connect. If this fingerprint is the device's, run "
            f"`tensorop devices trust {self.device_name}`", hostname, key)


def is_known(host_keys: paramiko.HostKeys, ep: Endpoint, key: paramiko.PKey) -> bool:
    known = host_keys.lookup(ep.known_hosts_name)
    return bool(known) and key.get_name() in known and known[key.get_name()] == key


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
