"""The SSH transport against a real OpenSSH server on a loopback port (generated host and user
keys): runs, time limits, uploads by content hash, host-key policy, ProxyJump, device locks,
faults, quarantine and --resume."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO, requires_qemu
from harness.backends.cpu.baselines import baseline_kernel
from harness.campaign.scheduler import Job, run_campaign
from harness.campaign.locks import DeviceLock, LockError, lock_path
from harness.config.lab import Lab
from harness.core.records import Artifact, Status
from harness.campaign.store import Store
from harness.transport.ssh import SSHTransport
from harness.measure.runner import MeasureOptions, run_trial
from sshd_fixture import SSHKeys, SSHServer, device_yaml, free_port, have_sshd

pytestmark = [pytest.mark.skipif(bool(have_sshd()), reason=have_sshd() or "ok"),
              pytest.mark.xdist_group("ssh_transport")]   # module fixture (servers, namespaces) on one worker

SMALL = (64, 64, 64)
FAST = MeasureOptions(warmup=1, min_sample_s=0.005, min_samples=3, max_samples=5, max_time_s=0.2)
RV_RUNNER = ["qemu-riscv64", "-cpu", "rv64,v=true,vlen=256,vext_spec=v1.0", "-L", "{cache}/sysroot/riscv64"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    root = tmp_path_factory.mktemp("sshd")
    keys = SSHKeys(root / "keys")
    srv = SSHServer(root / "server", "127.0.0.1", free_port(), keys.authorized_keys).start()
    known = root / "known_hosts"
    known.write_text(srv.known_hosts_line)
    yield srv, keys, known
    srv.stop()


def _lab(workspace, sshd, extra_devices: str = "", **kw) -> Lab:
    srv, keys, known = sshd
    args = dict(host="127.0.0.1", port=srv.port, key=keys.user_key, known_hosts=known,
                workdir=workspace.root / "remote-lb")
    args.update(kw)
    text = "devices:\n  host:\n    arch: native\n    toolchain: host-cc\n    timeout_s: 10\n" + \
        device_yaml("lb", **args) + \
        device_yaml("lb-rv", host="127.0.0.1", port=srv.port, key=keys.user_key, known_hosts=known,
                    workdir=workspace.root / "remote-lbrv", arch="riscv64", toolchain="riscv64-clang",
                    runner=RV_RUNNER, emulated=True, timeout_s=30) + extra_devices
    (workspace.root / "devices.yaml").write_text(text)
    return Lab.load(workspace)


def test_run_command_status_signal_and_time_limit(workspace, sshd):
    lab = _lab(workspace, sshd)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run_command(["uname", "-m"], timeout_s=5)
        assert (r.returncode, r.stdout.strip(), r.device_error) == (0, os.uname().machine, "")
        r = t.run_command(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=5)
        assert (r.returncode, r.stdout, r.stderr.strip()) == (7, "out\n", "err")
        r = t.run_command(["sh", "-c", "kill -SEGV $$"], timeout_s=5)
        assert r.signal == "SIGSEGV" and r.returncode == -11
        # the whole process group is killed on the device at the limit, the host gets an answer
        marker = f"sleep 3{os.getpid() % 1000}.5"
        start = time.monotonic()
        r = t.run_command(["sh", "-c", f"{marker} & {marker}; echo never"], timeout_s=1.5)
        took = time.monotonic() - start
        assert r.timed_out and r.returncode is None and not r.device_error, r
        assert took < 1.5 + 2.5, took
        time.sleep(0.2)
        left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
        assert left.strip() == "", "a process of the timed-out command survived"
        assert t.stats.connects == 1          # one persistent connection


def test_trials_upload_by_content_hash(workspace, sshd):
    lab = _lab(workspace, sshd)
    dev = lab.devices["lb"]
    blas = baseline_kernel(lab.ws, "openblas", dev.arch)
    naive = baseline_kernel(lab.ws, "naive", dev.arch)
    with SSHTransport(dev, lab.ws) as t:
        first = run_trial(lab.ws, dev, lab.toolchain(dev), t, blas, SMALL, FAST)
        assert first.status is Status.OK, first.error
        assert first.transport == "ssh" and first.gflops > 0
        up1 = t.stats.bytes_uploaded
        assert up1 > 5_000_000                      # the driver plus the OpenBLAS library
        second = run_trial(lab.ws, dev, lab.toolchain(dev), t, blas, SMALL, FAST)
        assert second.status is Status.OK and t.stats.bytes_uploaded == up1   # nothing new
        third = run_trial(lab.ws, dev, lab.toolchain(dev), t, naive, SMALL, FAST)
        assert third.status is Status.OK
        assert 0 < t.stats.bytes_uploaded - up1 < 1_000_000                    # the kernel binary only
    runs = workspace.root / "remote-lb" / "runs"
    assert list(runs.iterdir()) == []                                          # per-run dirs cleaned up
    assert len(list((workspace.root / "remote-lb" / "blobs").iterdir())) == 3


@requires_qemu
def test_remote_runner_qemu_with_insn_counter(workspace, sshd):
    lab = _lab(workspace, sshd)
    dev = lab.devices["lb-rv"]
    with SSHTransport(dev, lab.ws) as t:
        tr = run_trial(lab.ws, dev, lab.toolchain(dev), t, baseline_kernel(lab.ws, "naive", dev.arch), SMALL, FAST)
    assert tr.status is Status.OK, tr.error
    assert tr.emulated and tr.insns and tr.insns > 0      # the QEMU plugin was uploaded and used
    assert tr.command[0] == "qemu-riscv64" and "-plugin" in tr.command


def _script_artifact(tmp_path, name: str, text: str) -> Artifact:
    exe = tmp_path / name
    exe.write_text(text)
    exe.chmod(0o755)
    return Artifact(key=name, executable=exe)


def test_request_on_stdin_result_on_private_channel(workspace, sshd, tmp_path):
    """The run contract: stdin carries the request, fd 3 is a fresh file that comes back as
    RunResult.channel, nothing is taken from stdout; the run happens in its own directory."""
    lab = _lab(workspace, sshd)
    prog = _script_artifact(tmp_path, "prog", textwrap.dedent("""\
        #!/bin/sh
        n=0
        while read -r line; do n=$((n + 1)); printf 'got %s\\n' "$line" >&3; done
        printf 'lines %s\\n' "$n" >&3
        echo "stdout: $(pwd) $TENSOROP_TRIAL"
        echo "stderr only" >&2
        printf 'xyz' > out.bin
        """))
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run(prog, [], timeout_s=10, fetch=["out.bin", "missing.bin"], stdin=b"seed 42\nshape 3 5 2\n")
        assert (r.returncode, r.device_error) == (0, ""), r
        assert r.channel == b"got seed 42\ngot shape 3 5 2\nlines 2\n"
        assert r.files == {"out.bin": b"xyz"}
        cwd, trial = r.stdout.split()[1:3]
        assert cwd.startswith(str(workspace.root / "remote-lb" / "runs")) and len(trial) == 16
        assert r.stderr.strip() == "stderr only"
        # no request: stdin is empty, and the channel is fresh (nothing of the previous run)
        r2 = t.run(prog, [], timeout_s=10)
        assert r2.channel == b"lines 0\n" and r2.files == {}
        assert r2.stdout.split()[1] != cwd and r2.stdout.split()[2] != trial     # a new dir, a new trial id
        assert t.stats.connects == 1


def test_trial_session_killed_at_its_end(workspace, sshd, tmp_path):
    """A program that double-forks and calls setsid (so it leaves the process group and the
    session), plus a plain background child, then exits 0: nothing of it survives the trial."""
    if not shutil.which("cc"):
        pytest.skip("no C compiler")
    tag = f"{os.getpid() % 1000}{time.monotonic_ns() % 1000}"
    src = tmp_path / "escape.c"
    src.write_text(textwrap.dedent("""\
        #include <stdlib.h>
        #include <sys/wait.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            pid_t p = fork();
            if (p == 0) {
                setsid();                         /* a session of its own */
                if (fork() == 0) { execlp("sleep", "sleep", argv[1], (char *)0); _exit(1); }
                _exit(0);                          /* the grandchild is orphaned */
            }
            waitpid(p, 0, 0);
            if (fork() == 0) { execlp("sleep", "sleep", argv[2], (char *)0); _exit(1); }
            return 0;
        }
        """))
    exe = tmp_path / "escape"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    escaped, child = f"3{tag}.25", f"3{tag}.75"
    lab = _lab(workspace, sshd)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run(Artifact(key="escape", executable=exe), [escaped, child], timeout_s=20)
        assert (r.returncode, r.timed_out, r.device_error) == (0, False, ""), r
        assert r.wall_s < 10
        time.sleep(0.2)
        for marker in (escaped, child):
            left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
            assert left.strip() == "", f"'sleep {marker}' outlived its trial"
        # the connection and the device are fine afterwards
        assert t.run_command(["true"], timeout_s=5).returncode == 0


@requires_qemu
def test_plugin_options_reach_qemu(workspace, sshd):
    from harness.measure.runner import build_kernel
    lab = _lab(workspace, sshd)
    dev = lab.devices["lb-rv"]
    b = build_kernel(lab.ws, lab.toolchain(dev), baseline_kernel(lab.ws, "naive", dev.arch))
    assert b.status is Status.OK, b.error
    with SSHTransport(dev, lab.ws) as t:
        r = t.run(b.artifact, [], timeout_s=30, plugin=("fd=3", "mode=count"))
        assert not r.device_error, r
        assert r.command[:2] == ("qemu-riscv64", "-plugin")
        assert r.command[2].endswith(",fd=3,mode=count") and "/blobs/" in r.command[2]
        plain = t.run(b.artifact, [], timeout_s=30)
        assert "-plugin" not in plain.command


def test_unknown_host_key_refused_then_trusted(workspace, sshd):
    srv, keys, _ = sshd
    empty = workspace.root / "known_hosts_empty"
    lab = _lab(workspace, sshd, known_hosts=empty)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run_command(["true"], timeout_s=5)
    assert "unknown host key" in r.device_error and "SHA256:" in r.device_error
    assert "tensorop devices trust lb" in r.device_error
    env = {**os.environ, "TENSOROP_HOME": str(workspace.root)}
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "trust", "lb", "--yes"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "SHA256:" in p.stdout and "recorded" in p.stdout
    assert f"[127.0.0.1]:{srv.port} ssh-ed25519 " in empty.read_text()
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        assert t.run_command(["true"], timeout_s=5).returncode == 0
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "trust", "lb", "--yes"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "already trusted" in p.stdout


def test_wrong_host_key_refused(workspace, sshd, tmp_path):
    srv, keys, _ = sshd
    other = SSHServer(tmp_path / "impostor", "127.0.0.1", srv.port, keys.authorized_keys)  # a different host key
    bad = workspace.root / "known_hosts_bad"
    bad.write_text(other.known_hosts_line)
    lab = _lab(workspace, sshd, known_hosts=bad)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run_command(["true"], timeout_s=5)
    assert "HOST KEY MISMATCH" in r.device_error and "refusing" in r.device_error, r.device_error


def test_wrong_user_key_refused(workspace, sshd):
    _, keys, _ = sshd
    lab = _lab(workspace, sshd, key=keys.other_key)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        r = t.run_command(["true"], timeout_s=5)
    assert "authentication failed" in r.device_error and "never uses passwords" in r.device_error


def test_ssh_config_alias_and_proxyjump(workspace, sshd):
    srv, keys, known = sshd
    cfg = workspace.root / "ssh_config"
    cfg.write_text(textwrap.dedent(f"""\
        Host jumpbox
            HostName 127.0.0.1
            Port {srv.port}
            User root
            IdentityFile {keys.user_key}
        Host board
            HostName 127.0.0.1
            Port {srv.port}
            User root
            IdentityFile {keys.user_key}
            ProxyJump jumpbox
        """))
    text = ("devices:\n  board:\n    arch: native\n    transport: ssh\n    host: board\n"
            f"    ssh_config: {cfg}\n    known_hosts: {known}\n    workdir: {workspace.root / 'remote-board'}\n"
            "    toolchain: host-cc\n    connect_timeout_s: 5\n")
    (workspace.root / "devices.yaml").write_text(text)
    lab = Lab.load(workspace)
    with SSHTransport(lab.devices["board"], lab.ws) as t:
        r = t.run_command(["sh", "-c", "echo $SSH_CONNECTION"], timeout_s=5)
        assert r.returncode == 0, r.device_error
        assert len(t._hops) == 1                         # went through the jump host
        assert r.stdout.split()[0] == "127.0.0.1"


def test_hung_device_cannot_hang_a_run(workspace, sshd):
    """The device stops answering (its sshd session is frozen): the host gives up at the limit."""
    srv, _, _ = sshd
    lab = _lab(workspace, sshd)
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        assert t.run_command(["true"], timeout_s=5).returncode == 0
        sessions = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout.split()
        assert sessions
        for pid in sessions:
            os.kill(int(pid), signal.SIGSTOP)
        try:
            start = time.monotonic()
            r = t.run_command(["true"], timeout_s=1.0)
            took = time.monotonic() - start
        finally:
            for pid in sessions:
                try:
                    os.kill(int(pid), signal.SIGCONT)
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
        assert r.device_error.startswith("lb: "), r
        assert took < 1.0 + 3.0 + 1.0, took
        # it reconnects afterwards
        assert t.run_command(["true"], timeout_s=5).returncode == 0
        assert t.stats.connects == 2


def _hold_lock(workspace, lease: int, hold_s: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys, time
        from harness.config.lab import Lab
        from harness.core.workspace import Workspace
        from harness.campaign.locks import DeviceLock, lock_path
        from harness.transport.ssh import SSHTransport
        lab = Lab.load(Workspace.discover({str(workspace.root)!r}))
        t = SSHTransport(lab.devices["lb"], lab.ws)
        lock = DeviceLock(t, lock_path(t), {lease})
        lock.acquire()
        print("held", flush=True)
        time.sleep({hold_s})
        lock.release()
        t.close()
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    return p


def test_lock_held_by_another_process_waits(workspace, sshd):
    lab = _lab(workspace, sshd)
    holder = _hold_lock(workspace, lease=30, hold_s=2.0)
    waits = []
    try:
        with SSHTransport(lab.devices["lb"], lab.ws) as t:
            lock = DeviceLock(t, lock_path(t), 30, wait_s=20, poll_s=0.3, on_wait=waits.append)
            start = time.monotonic()
            lock.acquire()
            took = time.monotonic() - start
            lock.release()
    finally:
        holder.wait(timeout=30)
    assert waits, "never saw the holder"
    assert f"pid {holder.pid}" in waits[0].describe() and "since" in waits[0].describe()
    assert 1.0 < took < 10, took
    # a short wait limit gives up with the holder named
    holder = _hold_lock(workspace, lease=30, hold_s=3.0)
    try:
        with SSHTransport(lab.devices["lb"], lab.ws) as t:
            with pytest.raises(LockError, match=f"pid {holder.pid}"):
                DeviceLock(t, lock_path(t), 30, wait_s=0.5, poll_s=0.2).acquire()
    finally:
        holder.wait(timeout=30)


def test_stale_lock_recovered(workspace, sshd):
    lab = _lab(workspace, sshd)
    holder = _hold_lock(workspace, lease=2, hold_s=60)
    holder.kill()                    # dies holding the lock: the lease is never renewed
    holder.wait(timeout=10)
    events = []
    with SSHTransport(lab.devices["lb"], lab.ws) as t:
        lock = DeviceLock(t, lock_path(t), 5, wait_s=15, poll_s=0.3, on_event=events.append)
        start = time.monotonic()
        lock.acquire()
        took = time.monotonic() - start
        lock.release()
    assert any("stale" in e for e in events), events
    assert took < 6, took


def test_campaign_quarantines_unreachable_device_and_resumes(workspace, sshd):
    srv, keys, known = sshd
    dead = device_yaml("dead", host="127.0.0.1", port=free_port(), key=keys.user_key, known_hosts=known,
                       workdir=workspace.root / "remote-dead", extra="    quarantine_after: 2\n")
    lab = _lab(workspace, sshd, extra_devices=dead)
    naive = baseline_kernel(lab.ws, "naive", "x86_64")
    shapes = [(16, 16, 16), (24, 24, 24), (32, 32, 32)]
    jobs = [Job(naive, d, s) for d in ("lb", "dead") for s in shapes]
    events = []
    with Store(lab.ws.database) as store:
        trials = run_campaign(lab, jobs, store, campaign="c-farm", overrides={"max_time_s": 0.1, "min_samples": 3},
                              on_event=lambda d, text: events.append((d, text)))
        assert [t.status for t in trials[:3]] == [Status.OK] * 3
        dead_trials = trials[3:]
        assert all(t.status is Status.DEVICE_ERROR for t in dead_trials)
        assert "cannot reach" in dead_trials[0].error
        assert dead_trials[2].error.startswith("quarantined")
        assert any("quarantined" in text for d, text in events if d == "dead")
        assert len(list(store.trials(campaign="c-farm"))) == 6
        # resume: the device is back (same port as lb now); only its 3 trials run again
        (workspace.root / "devices.yaml").write_text(
            (workspace.root / "devices.yaml").read_text().replace(f"port: {lab.devices['dead'].port}",
                                                                  f"port: {srv.port}"))
        lab2 = Lab.load(workspace)
        again = run_campaign(lab2, jobs, store, campaign="c-farm", overrides={"max_time_s": 0.1, "min_samples": 3},
                             resume=True)
        assert [(t.device, t.status) for t in again] == [("dead", Status.OK)] * 3
        assert run_campaign(lab2, jobs, store, campaign="c-farm", resume=True) == []


@requires_qemu
def test_devices_check_and_probe_over_ssh(workspace, sshd):
    lab = _lab(workspace, sshd)
    env = {**os.environ, "TENSOROP_HOME": str(workspace.root)}
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "check", "-d", "lb", "-d", "lb-rv"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"uname -m {os.uname().machine}" in p.stdout and "GB free" in p.stdout and "load" in p.stdout
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "probe", "lb-rv", "--refresh"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    prof = json.loads(p.stdout)
    assert prof["arch"] == "riscv64" and prof["emulated"] and prof["vlen_bits"] == 256
    assert any("emulated" in n for n in prof["notes"])
    from harness.backends.cpu.probe import load_or_probe, profile_path
    prof = load_or_probe(lab, "lb", refresh=True)
    assert prof.cores >= 1 and prof.mem_bytes > 0 and prof.caches.get("l1d", 0) > 0 and prof.cache_line > 0
    assert profile_path(lab, lab.devices["lb"]).is_file()
    assert load_or_probe(lab, lab.devices["lb"]).probed_at == prof.probed_at      # from the cache
