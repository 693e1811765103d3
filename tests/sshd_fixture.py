"""Real OpenSSH servers for the SSH transport tests: on a loopback port, or inside a network
namespace of a three-host farm (veth pairs, own addresses). Keys are generated per test session
under tmp; nothing outside loopback and our own namespaces is ever contacted."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def have_sshd() -> str:
    """'' when an sshd can be started here, else the reason it cannot."""
    if not Path(SSHD).exists():
        return "openssh-server not installed (run make setup)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen not installed"
    if os.geteuid() != 0:
        return "sshd with key login for the current user needs root here (/run/sshd, privilege separation)"
    return ""


def keygen(path: Path, kind: str = "ed25519") -> Path:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tensorop-test", "-f", str(path)],
                       check=True, timeout=30)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, netns: str | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.settimeout(1.0)
                if s.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on {host}:{port} did not come up within {timeout} s")


@dataclass
class SSHServer:
    """One sshd (-D -e -f cfg) with its own generated host key."""

    root: Path
    address: str
    port: int
    authorized_keys: Path
    netns: str | None = None
    quiet_shell: bool = True
    proc: subprocess.Popen | None = None
    host_key: Path = field(init=False)

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(self.root / "ssh_host_ed25519_key")

    @property
    def known_hosts_line(self) -> str:
        pub = (self.root / "ssh_host_ed25519_key.pub").read_text().split()
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {pub[0]} {pub[1]}\n"

    def start(self) -> "SSHServer":
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        cfg = self.root / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress {self.address}\nHostKey {self.host_key}\n"
            f"PidFile {self.root / 'sshd.pid'}\nAuthorizedKeysFile {self.authorized_keys}\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowTcpForwarding yes\n"
            "UseDNS no\nMaxSessions 64\nMaxStartups 64:30:128\nLogLevel ERROR\nSubsystem sftp internal-sftp\n"
            "ClientAliveInterval 0\n")
        cmd = [SSHD, "-D", "-e", "-f", str(cfg)]
        rc = Path.home() / ".bashrc"
        if self.quiet_shell and rc.is_file() and shutil.which("unshare"):
            # The login shell sources ~/.bashrc for every ssh command; this machine's (pyenv init)
            # costs ~150 ms. Hide it from this sshd only, in a private mount namespace.
            empty = self.root / "empty-bashrc"
            empty.write_text("")
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" "$1" 2>/dev/null; shift; exec "$@"', str(empty), str(rc), *cmd]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        log = open(self.root / "sshd.log", "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        try:
            wait_port(self.address, self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"sshd did not start: {(self.root / 'sshd.log').read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@dataclass
class SSHKeys:
    root: Path

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.user_key = keygen(self.root / "id_ed25519")
        self.other_key = keygen(self.root / "id_other")       # not authorized anywhere
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text((self.root / "id_ed25519.pub").read_text())


def device_yaml(name: str, *, host: str, port: int, key: Path, known_hosts: Path, workdir: Path,
                arch: str = "x86_64", toolchain: str = "host-cc", runner: list[str] | None = None,
                emulated: bool = False, timeout_s: float = 10, extra: str = "") -> str:
    runner_line = f"    runner: [{', '.join(repr(a) for a in runner)}]\n" if runner else ""
    return (f"  {name}:\n    arch: {arch}\n    transport: ssh\n    host: {host}\n    port: {port}\n"
            f"    user: root\n    key: {key}\n    known_hosts: {known_hosts}\n    workdir: {workdir}\n"
            f"    toolchain: {toolchain}\n{runner_line}    emulated: {'true' if emulated else 'false'}\n"
            f"    timeout_s: {timeout_s}\n    connect_timeout_s: 3\n    keepalive_s: 1\n    link_timeout_s: 3\n"
            f"    lock_lease_s: 5\n    lock_wait_s: 20\n"
            f"    env: {{OPENBLAS_NUM_THREADS: '1'}}\n{extra}")


# ---- network namespaces --------------------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def can_make_netns() -> str:
    """'' when network namespaces with veth pairs can be made here, else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "iproute2 (ip) not installed"
    name = f"tnsprobe{os.getpid()}"
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    try:
        r = _ip("link", "add", f"tvp{os.getpid()}", "type", "veth", "peer", "name", f"tvq{os.getpid()}", check=False)
        if r.returncode != 0:
            return f"cannot create a veth pair: {r.stderr.strip()}"
        _ip("link", "del", f"tvp{os.getpid()}", check=False)
        return ""
    finally:
        _ip("netns", "del", name, check=False)


FARM_NET = "10.213.0.0/16"


def farm_guard_up() -> None:
    """An `unreachable` route for the whole farm range: when a host's link is cut, packets for it
    fail at once here instead of following the default route off this machine."""
    r = _ip("route", "show", "exact", FARM_NET, check=False)
    if "unreachable" not in r.stdout:
        _ip("route", "add", "unreachable", FARM_NET, "metric", "4000", check=False)


def farm_guard_down() -> None:
    _ip("route", "del", "unreachable", FARM_NET, "metric", "4000", check=False)


def remove_stale_farms() -> None:
    """Namespaces a killed test run left behind (named tfarm<pid>-<i>, that pid gone)."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("tfarm") and "-" in name:
            tag, _, idx = name[5:].partition("-")
            if tag.isdigit() and idx.isdigit() and not Path(f"/proc/{tag}").exists():
                NetnsHost(int(idx), tag).destroy()


def farm_net_conflict() -> str:
    """'' unless this machine already uses the farm's address range."""
    r = _ip("-4", "addr", "show", check=False)
    if " 10.213." in r.stdout:
        return f"{FARM_NET} is already used on this machine"
    return ""


@dataclass
class NetnsHost:
    """A farm host: a namespace joined to the root namespace by a veth pair, 10.213.<i>.2/24,
    with the root side 10.213.<i>.1/24. `cut()` downs the root side: the host drops off."""

    index: int
    tag: str

    @property
    def ns(self) -> str:
        return f"tfarm{self.tag}-{self.index}"

    @property
    def veth(self) -> str:
        return f"tf{self.tag}v{self.index}"[:15]

    @property
    def address(self) -> str:
        return f"10.213.{self.index}.2"

    def create(self) -> "NetnsHost":
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        _ip("addr", "add", f"10.213.{self.index}.1/24", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.ns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _ip("-n", self.ns, "link", "set", "eth0", "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        _ip("link", "set", self.veth, "down")

    def destroy(self) -> None:
        r = _ip("netns", "pids", self.ns, check=False)
        for pid in r.stdout.split():    # processes started inside our namespace (sshd sessions, runs)
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        _ip("link", "del", self.veth, check=False)
        _ip("netns", "del", self.ns, check=False)
