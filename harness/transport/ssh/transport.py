"""SSH transport: a lab board (or GPU server) that only needs an SSH server and a POSIX shell.

    k1:
      arch: riscv64
      transport: ssh
      host: bpi-f3.lab            # or a Host alias of ~/.ssh/config (HostName, Port, User,
      user: bench                 #   IdentityFile and ProxyJump are honoured)
      key: ~/.ssh/id_ed25519      # else IdentityFile / default keys / ssh-agent; never a password
      workdir: /tmp/tensorop      # blobs/ (uploads by content hash), runs/ (one dir per run), lock
      known_hosts: ~/.ssh/known_hosts   # unknown host keys are refused: `tensorop devices trust k1`

One persistent paramiko connection per device (connection.py), TCP_NODELAY on its socket
(without it every command pays ~45 ms of Nagle/delayed-ACK), TCP keepalive, ssh keepalives and
TCP_USER_TIMEOUT so a dead link surfaces as an error within `link_timeout_s` instead of hanging.

Uploads go to <workdir>/blobs/<sha256> once (uploads.py); each run gets <workdir>/runs/<id>/
with hard links (so rpath $ORIGIN finds the shared libraries beside the executable), removed
by the next run. A trial runs as the configured user in that directory under the wrapper
(harness/transport/scripts/ssh_wrapper.sh, exec.py): the request on its stdin, its fd 3 on a fresh
channel file, its own session, SIGKILL of the whole process group at the limit, and at the end
of every trial the kill of every process that still carries the trial's marker variable (so a
double-forked, setsid'ed leftover does not outlive it). The host keeps a deadline of its own on
the channel. Every failure of the transport comes back as RunResult.device_error.
"""
from __future__ import annotations

import os
import secrets
import shlex
import stat
from pathlib import Path

from harness.config.devices import Device
from harness.core.records import Artifact, RunResult
from harness.core.workspace import Workspace
from harness.transport.base import MAX_CHANNEL, MAX_FETCH, Transport, is_qemu
from harness.transport.ssh.connection import Connection
from harness.transport.ssh.errors import SSHError
from harness.transport.ssh.exec import channel_file, exec_command, new_trial_id, profile_file, run_wrapped
from harness.transport.ssh.uploads import Blobs



class SSHTransport(Transport):
    kind = "ssh"

    def __init__(self, device: Device, ws: Workspace):
        super().__init__(device, ws)
        self.conn = Connection(device)
        self.stats = self.conn.stats
        wd = device.workdir.rstrip("/") or "/tmp/tensorop"
        self.workdir = wd[2:] if wd.startswith("~/") else wd   # relative = the login's home
        self.blobs = Blobs(self.conn, self.workdir)
        self._pending_cleanup = ""
        self._run_seq = 0

    # ---- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect now (with backoff after failures); raises SSHError with a user-facing message."""
        self.conn.open(self._on_connect)

    def _on_connect(self) -> None:
        # one round trip: the work dirs exist and we learn which blobs are there already
        wd = shlex.quote(self.workdir)
        r = exec_command(self.conn, f"mkdir -p {wd}/blobs {wd}/runs && ls {wd}/blobs", self.device.connect_timeout_s)
        if r.device_error or r.returncode != 0:
            raise SSHError(r.device_error or f"cannot create {self.workdir} on {self.device.name}: "
                           f"{r.stderr.strip()[-300:]}")
        self.blobs.listed(r.stdout.splitlines())

    def close(self) -> None:
        with self.conn.lock:
            if self._pending_cleanup and self.conn.alive():
                exec_command(self.conn, f"rm -rf -- {shlex.quote(self._pending_cleanup)}", 5.0)
            self._pending_cleanup = ""
            self.conn.drop()

    @property
    def connected(self) -> bool:
        return self.conn.alive()

    @property
    def _hops(self):   # for tests: the ProxyJump clients of the current connection
        return self.conn.hops

    # ---- Transport API ---------------------------------------------------------------------
    def _prefix(self, plugin: str | None, options: tuple[str, ...]) -> list[str]:
        prefix = [self.ws.expand(a).replace("{workdir}", self.workdir) for a in self.device.runner]
        if plugin and prefix and is_qemu(prefix[0]):
            prefix[1:1] = ["-plugin", ",".join([plugin, *options])]
        return prefix

    def run(self, artifact: Artifact, args: list[str], *, timeout_s: float, fetch: list[str] = (),
            stdin: bytes = b"", plugin: tuple[str, ...] | None = None) -> RunResult:
        exe_name = "driver"
        qemu = bool(self.device.runner) and is_qemu(self.device.runner[0])
        shown = [*self._prefix("<plugin>" if plugin is not None else None, plugin or ()), f"./{exe_name}", *args]
        if plugin is not None and qemu and not self.ws.qemu_plugin.is_file():
            return RunResult(None, "", "", 0.0, command=tuple(shown),
                             device_error=f"the QEMU plugin {self.ws.qemu_plugin} is not built (run make setup)")
        with self.conn.lock:
            try:
                self.connect()
            except SSHError as e:
                return RunResult(None, "", "", 0.0, command=tuple(shown), device_error=str(e))
            try:
                links = [(self.blobs.remote(artifact.executable), exe_name)]
                links += [(self.blobs.remote(Path(lib)), Path(lib).name) for lib in artifact.runtime_libs]
                remote_plugin = self.blobs.remote(self.ws.qemu_plugin) if plugin is not None and qemu else None
            except Exception as e:
                self.conn.mark_broken()
                return RunResult(None, "", "", 0.0, command=tuple(shown),
                                 device_error=f"{self.device.name}: upload failed: {e}")
            self._run_seq += 1
            rundir = f"{self.workdir}/runs/{os.getpid()}-{self._run_seq}-{secrets.token_hex(3)}"
            cmd = [*self._prefix(remote_plugin, plugin or ()), f"./{exe_name}", *args]
            prev, self._pending_cleanup = self._pending_cleanup, rundir
            trial_id = new_trial_id()
            r = run_wrapped(self.conn, prev, rundir, True, timeout_s, links, cmd, self.device.run_env,
                            stdin=stdin, trial_id=trial_id)
            if r.device_error:
                return r
            try:
                files = self._fetch(rundir, [*fetch, channel_file(trial_id), profile_file(trial_id)])
            except Exception as e:
                self.conn.mark_broken()
                return RunResult(None, r.stdout, r.stderr, r.wall_s, command=r.command,
                                 device_error=f"{self.device.name}: fetching outputs failed: {e}")
            channel = files.pop(channel_file(trial_id), None)
            profile = files.pop(profile_file(trial_id), b"")
            if channel is None:
                return RunResult(None, r.stdout, r.stderr, r.wall_s, command=r.command,
                                 device_error=f"{self.device.name}: the run's channel file is missing")
            return RunResult(r.returncode, r.stdout, r.stderr, r.wall_s, timed_out=r.timed_out, signal=r.signal,
                             files=files, command=r.command, channel=channel, profile=profile)

    def _fetch(self, rundir: str, names: list[str]) -> dict[str, bytes]:
        """The named regular files of the run directory that exist (one SFTP session, pipelined
        reads). A name the run replaced by a symlink, a FIFO or a device is not read: the kernel
        does not get the host to fetch the board's other files."""
        sftp = self.conn.sftp()
        files = {}
        for name in names:
            if "/" in name or name in ("", ".", ".."):
                continue
            path = f"{rundir}/{name}"
            try:
                st = sftp.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_mode is None or not stat.S_ISREG(st.st_mode):
                continue
            limit = MAX_CHANNEL if name.startswith((".tensorop-channel.", ".tensorop-profile.")) else MAX_FETCH
            try:
                with sftp.open(path, "rb") as f:
                    f.prefetch()
                    # bounded (a record is small; a flood is cut and then rejected)
                    files[name] = f.read(limit)
                    self.stats.bytes_fetched += len(files[name])
            except FileNotFoundError:
                pass
        return files

    def run_command(self, argv: list[str], *, timeout_s: float) -> RunResult:
        # Not under the connection lock while connected: lease renewals run while a trial holds
        # it (paramiko channels are independent); the connection is only replaced under the lock.
        if not self.conn.alive():
            try:
                self.connect()
            except SSHError as e:
                return RunResult(None, "", "", 0.0, command=tuple(argv), device_error=str(e))
        if self.conn.client is None:
            return RunResult(None, "", "", 0.0, command=tuple(argv), device_error=f"{self.device.name}: not connected")
        return run_wrapped(self.conn, "", self.workdir, False, timeout_s, [], list(argv), self.device.run_env)
