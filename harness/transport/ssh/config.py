"""Where and how to connect: devices.yaml fields over ~/.ssh/config (HostName, Port, User,
IdentityFile, ProxyJump, ProxyCommand), as ssh's command line overrides its config file."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from harness.config.devices import Device
from harness.transport.ssh.errors import SSHError


def expand(path: str) -> str:
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


def load_ssh_config(path: str) -> paramiko.SSHConfig:
    p = Path(expand(path or "~/.ssh/config"))
    if p.is_file():
        return paramiko.SSHConfig.from_path(str(p))
    return paramiko.SSHConfig()


def resolve_endpoint(device: Device, cfg: paramiko.SSHConfig | None = None) -> Endpoint:
    """devices.yaml fields override ~/.ssh/config (as ssh's command line does)."""
    cfg = cfg or load_ssh_config(device.ssh_config)
    return _endpoint(cfg, device.host, device.user, device.port, [device.key] if device.key else [], depth=0,
                     jump=device.proxy_jump)


def _endpoint(cfg: paramiko.SSHConfig, host: str, user: str, port: int, keys: list[str], depth: int,
              jump: str = "") -> Endpoint:
    if depth > 8:
        raise SSHError(f"ProxyJump chain too long at {host!r}")
    c = cfg.lookup(host)
    ep = Endpoint(alias=host, hostname=c.get("hostname", host), port=int(port or c.get("port", 22)),
                  user=user or c.get("user", "") or os.environ.get("USER", "root"),
                  key_files=[expand(k) for k in (keys or c.get("identityfile", []))])
    # OpenSSH substitutes %h etc. in IdentityFile; paramiko does it for some keys; keep existing files
    ep.key_files = [k for k in ep.key_files if Path(k).is_file()] or ([] if not keys else ep.key_files)
    jump = jump or c.get("proxyjump", "")
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
