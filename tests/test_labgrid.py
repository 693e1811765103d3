"""The labgrid transport against a real labgrid coordinator and exporter on loopback, whose
NetworkService resources point at two test sshd's (two "boards"): reservation by tags, lanes
over both boards, two campaigns competing for one board, a board taken away mid-campaign, and
the release of a place left acquired by a tensorop killed with -9."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO
from harness.backends.cpu.baselines import baseline_kernel
from harness.campaign.scheduler import Job, run_campaign
from harness.config.lab import Lab
from harness.core.records import Status
from harness.campaign.store import Store
from sshd_fixture import SSHKeys, SSHServer, free_port, have_sshd

BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.skipif(bool(have_sshd()), reason=have_sshd() or "ok"),
              pytest.mark.skipif(not (BIN / "labgrid-coordinator").exists(), reason="labgrid not installed"),
              pytest.mark.xdist_group("labgrid")]   # module fixture (servers, namespaces) on one worker
FAST = {"max_time_s": 0.05, "min_samples": 3, "warmup": 1}


def _client(addr: str, *args: str) -> str:
    env = {**os.environ, "LG_COORDINATOR": addr}
    r = subprocess.run([str(BIN / "labgrid-client"), *args], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def lab_farm(tmp_path_factory):
    root = tmp_path_factory.mktemp("labgrid")
    keys = SSHKeys(root / "keys")
    boards = {name: SSHServer(root / name, "127.0.0.1", free_port(), keys.authorized_keys).start()
              for name in ("board-a", "board-b")}
    known = root / "known_hosts"
    known.write_text("".join(b.known_hosts_line for b in boards.values()))
    port = free_port()
    addr = f"127.0.0.1:{port}"
    procs = []
    (root / "coord").mkdir()
    procs.append(subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", addr], cwd=root / "coord",
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the coordinator never listened"
            time.sleep(0.1)
    cfg = root / "exporter.yaml"
    cfg.write_text("".join(f"{name}:\n  NetworkService:\n    address: 127.0.0.1\n    port: {b.port}\n"
                           f"    username: root\n" for name, b in boards.items()))
    procs.append(subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", addr, "-n", "exp", "--hostname", "127.0.0.1",
                                   str(cfg)], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for name in boards:
        place = name.replace("board", "k1")
        _client(addr, "-p", place, "create")
        _client(addr, "-p", place, "add-match", f"exp/{name}/NetworkService")
        _client(addr, "-p", place, "set-tags", "board=k1")
    deadline = time.monotonic() + 20
    while "exp/board-b/NetworkService" not in _client(addr, "resources"):
        assert time.monotonic() < deadline, "the exporter never registered its resources"
        time.sleep(0.2)
    yield addr, boards, keys, known
    from harness.transport.labgrid import Coordinator
    Coordinator.close_all()
    for p in reversed(procs):
        p.terminate()
        p.wait(timeout=10)
    for b in boards.values():
        b.stop()


def _lab(workspace, farm, **fields) -> Lab:
    addr, _, keys, known = farm
    body = {"arch": "native", "transport": "labgrid", "coordinator": addr, "tags": "{board: k1}",
            "toolchain": "host-cc", "user": "root", "key": keys.user_key, "known_hosts": known,
            "workdir": workspace.root / "remote-lab", "timeout_s": 10, "connect_timeout_s": 3,
            "keepalive_s": 1, "link_timeout_s": 3, "lock_wait_s": 20, "env": "{OPENBLAS_NUM_THREADS: '1'}"}
    body.update(fields)
    text = "devices:\n  host:\n    arch: native\n    toolchain: host-cc\n  k1-lab:\n" + \
        "".join(f"    {k}: {v}\n" for k, v in body.items() if v is not None)
    (workspace.root / "devices.yaml").write_text(text)
    return Lab.load(workspace)


def _places(addr: str) -> dict[str, str]:
    from harness.transport.labgrid import Coordinator
    return {n: p.acquired for n, p in Coordinator.get(addr).places().items()}


def test_reserve_by_tags_acquire_run_release(workspace, lab_farm):
    from harness.transport import get_transport
    addr = lab_farm[0]
    lab = _lab(workspace, lab_farm)
    t = get_transport(lab.devices["k1-lab"], lab.ws)
    assert t.kind == "labgrid"
    with t:
        r = t.run_command(["sh", "-c", "echo $SSH_CONNECTION"], timeout_s=5)
        assert r.returncode == 0, r.device_error
        assert t.board["place"] in ("k1-a", "k1-b") and t.board["hostname"] == os.uname().nodename
        port = int(r.stdout.split()[3])
        assert port == lab_farm[1][t.board["place"].replace("k1", "board")].port
        held = _places(addr)[t.board["place"]]
        assert held == f"{os.uname().nodename}/tensorop-{os.getpid()}"
    assert set(_places(addr).values()) == {None}                 # released
    # no tensorop lease file on a labgrid board
    assert not (workspace.root / "remote-lab" / "lock").exists()
    # devices check shows the coordinator and the places
    env = {**os.environ, "TENSOROP_HOME": str(workspace.root)}
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "check", "-d", "k1-lab"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert addr in p.stdout and "k1-a" in p.stdout and "k1-b" in p.stdout, p.stdout + p.stderr
    assert p.returncode == 0, p.stdout + p.stderr


def test_campaign_spreads_over_both_boards(workspace, lab_farm):
    lab = _lab(workspace, lab_farm)
    naive = baseline_kernel(lab.ws, "naive", lab.devices["k1-lab"].arch)
    jobs = [Job(naive, "k1-lab", (16 + 8 * i, 16, 16)) for i in range(6)]
    with Store(lab.ws.database) as store:
        trials = run_campaign(lab, jobs, store, overrides=FAST)
    assert [t.status for t in trials] == [Status.OK] * 6, [t.error for t in trials]
    places = {t.meta["board"]["place"] for t in trials}
    assert places == {"k1-a", "k1-b"}
    assert set(_places(lab_farm[0]).values()) == {None}


def _holder(workspace, place: str, hold_s: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time
        from harness.config.lab import Lab
        from harness.core.workspace import Workspace
        from harness.transport import get_transport
        lab = Lab.load(Workspace.discover({str(workspace.root)!r}))
        t = get_transport(lab.devices["k1-lab"], lab.ws)
        t.open()
        print("held", t.place, flush=True)
        time.sleep({hold_s})
        t.close()
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().split() == ["held", place]
    return p


def test_two_campaigns_compete_for_one_board(workspace, lab_farm):
    lab = _lab(workspace, lab_farm, tags=None, place="k1-a")
    holder = _holder(workspace, "k1-a", hold_s=2.0)
    events = []
    naive = baseline_kernel(lab.ws, "naive", lab.devices["k1-lab"].arch)
    try:
        start = time.monotonic()
        with Store(lab.ws.database) as store:
            trials = run_campaign(lab, [Job(naive, "k1-lab", (16, 16, 16))], store, overrides=FAST,
                                  on_event=lambda d, text: events.append(text))
        took = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert trials[0].status is Status.OK, trials[0].error
    assert trials[0].meta["board"]["place"] == "k1-a"
    assert any("waiting for a place" in e and f"tensorop-{holder.pid}" in e for e in events), events
    assert took >= 1.5


def test_board_taken_away_mid_campaign(workspace, lab_farm, tmp_path):
    addr, boards, keys, known = lab_farm
    lab = _lab(workspace, lab_farm)
    naive = baseline_kernel(lab.ws, "naive", lab.devices["k1-lab"].arch)
    jobs = [Job(naive, "k1-lab", (16 + 8 * i, 16, 16)) for i in range(8)]
    victim = boards["board-b"]
    done = []

    def on_trial(t):
        done.append(t)
        if len(done) == 2 and victim.proc is not None:       # pull board-b's plug: sshd and its sessions
            for pid in subprocess.run(["pgrep", "-P", str(victim.proc.pid)], capture_output=True,
                                      text=True).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            victim.stop()
    try:
        with Store(lab.ws.database) as store:
            trials = run_campaign(lab, jobs, store, overrides=FAST, on_trial=on_trial)
    finally:
        victim.start()
    statuses = [t.status for t in trials]
    assert statuses.count(Status.OK) >= 6 and set(statuses) <= {Status.OK, Status.DEVICE_ERROR}, \
        [(t.status, t.error) for t in trials]
    assert {t.meta["board"]["place"] for t in trials if t.status is Status.OK} >= {"k1-a"}
    assert set(_places(addr).values()) == {None}


def test_place_of_a_killed_tensorop_is_released(workspace, lab_farm):
    addr = lab_farm[0]
    _lab(workspace, lab_farm, tags=None, place="k1-b")
    holder = _holder(workspace, "k1-b", hold_s=600)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert _places(addr)["k1-b"] == f"{os.uname().nodename}/tensorop-{holder.pid}"     # left acquired
    lab = Lab.load(workspace)
    from harness.transport import get_transport
    events = []
    start = time.monotonic()
    with get_transport(lab.devices["k1-lab"], lab.ws) as t:
        t.on_event = events.append
        t.open(wait_s=10)
        assert t.place == "k1-b"
    assert time.monotonic() - start < 5
    assert any(f"tensorop-{holder.pid}" in e and "no longer running" in e for e in events), events
    assert set(_places(addr).values()) == {None}


def test_trust_records_each_boards_key_and_errors_name_the_device_once(workspace, lab_farm, tmp_path):
    """A labgrid device whose boards' host keys are unknown: its trials fail naming the device once
    (no "lab: ... lab: ..." and no word cut in half), and `tensorop devices trust` resolves every
    matching place's NetworkService and records its key, saying which board it was (it once
    answered "nothing to trust")."""
    known = tmp_path / "known_hosts"
    lab = _lab(workspace, lab_farm, known_hosts=known, lock_wait_s=3)
    with Store(lab.ws.database) as store:
        trials = run_campaign(lab, [Job(baseline_kernel(lab.ws, "naive", "x86_64"), "k1-lab", (8, 8, 8))], store,
                              overrides=FAST)
    t = trials[0]
    assert t.status is Status.DEVICE_ERROR and "unknown host key" in t.error, t.error
    assert t.error.startswith("k1-lab: ") and t.error.count("k1-lab:") == 1, t.error
    env = {**os.environ, "TENSOROP_HOME": str(workspace.root)}
    p = subprocess.run([sys.executable, "-m", "harness", "devices", "trust", "k1-lab", "--yes"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for place, board in (("k1-a", "board-a"), ("k1-b", "board-b")):
        port = lab_farm[1][board].port
        assert f"place {place}, 127.0.0.1:{port}" in p.stdout and "recorded in" in p.stdout, p.stdout
        assert f"[127.0.0.1]:{port} " in known.read_text()
    with Store(lab.ws.database) as store:
        again = run_campaign(lab, [Job(baseline_kernel(lab.ws, "naive", "x86_64"), "k1-lab", (8, 8, 8))], store,
                             overrides=FAST)
    assert again[0].status is Status.OK, again[0].error
