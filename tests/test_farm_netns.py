"""A three-host lab farm in network namespaces: each host its own veth pair, address and sshd;
farm-b runs RISC-V binaries through its own qemu-user. One campaign across the three, with
farm-c cut off (ip link set down) in the middle of a trial: the campaign finishes on the other two
with verified results, farm-c's trials are device_error (then quarantined), and no trial waits
longer than its time limit."""
from __future__ import annotations

import os
import threading
import time

import pytest

from conftest import requires_qemu
from harness.backends.cpu.baselines import baseline_kernel
from harness.campaign.scheduler import Job, run_campaign
from harness.config.lab import Lab
from harness.core.records import Status
from harness.campaign.store import Store
from harness.transport.ssh import HOST_GRACE_S
from sshd_fixture import (NetnsHost, SSHKeys, SSHServer, can_make_netns, device_yaml, farm_guard_down, farm_guard_up,
                          farm_net_conflict, have_sshd, remove_stale_farms)

_why = have_sshd() or can_make_netns() or farm_net_conflict()
pytestmark = [pytest.mark.skipif(bool(_why), reason=_why or "ok"), requires_qemu,
              pytest.mark.xdist_group("farm_netns")]   # module fixture (servers, namespaces) on one worker

RV_RUNNER = ["qemu-riscv64", "-cpu", "rv64,v=true,vlen=256,vext_spec=v1.0", "-L", "{cache}/sysroot/riscv64"]


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    root = tmp_path_factory.mktemp("farm")
    remove_stale_farms()
    keys = SSHKeys(root / "keys")
    tag = str(os.getpid())
    hosts, servers = [], []
    farm_guard_up()
    try:
        for i in (1, 2, 3):
            h = NetnsHost(i, tag).create()
            hosts.append(h)
            servers.append(SSHServer(root / f"host{i}", h.address, 22, keys.authorized_keys, netns=h.ns).start())
        known = root / "known_hosts"
        known.write_text("".join(s.known_hosts_line for s in servers))
        yield root, keys, known, hosts
    finally:
        for s in servers:
            s.stop()
        for h in hosts:
            h.destroy()
        farm_guard_down()


def _farm_lab(workspace, farm) -> Lab:
    root, keys, known, hosts = farm
    common = dict(key=keys.user_key, known_hosts=known, port=22, timeout_s=8)
    text = "devices:\n" + \
        device_yaml("farm-a", host=hosts[0].address, workdir=root / "wd-a", **common) + \
        device_yaml("farm-b", host=hosts[1].address, workdir=root / "wd-b", arch="riscv64",
                    toolchain="riscv64-clang", runner=RV_RUNNER, emulated=True, **common) + \
        device_yaml("farm-c", host=hosts[2].address, workdir=root / "wd-c", **common)
    (workspace.root / "devices.yaml").write_text(text)
    return Lab.load(workspace)


def test_campaign_survives_a_cut_host(workspace, farm):
    _, _, _, hosts = farm
    lab = _farm_lab(workspace, farm)
    shapes = [(24, 24, 24), (32, 32, 32), (40, 40, 40), (48, 48, 48), (64, 64, 64)]
    jobs = [Job(baseline_kernel(lab.ws, "naive", lab.devices[d].arch), d, s)
            for s in shapes for d in ("farm-a", "farm-b", "farm-c")]
    cut_at: list[float] = []
    ended: dict[int, float] = {}
    starts = {"farm-c": 0}

    def on_start(j):
        if j.device == "farm-c":
            starts["farm-c"] += 1
            if starts["farm-c"] == 2:      # cut farm-c off while its second trial runs
                def cut():
                    hosts[2].cut()
                    cut_at.append(time.monotonic())
                threading.Timer(0.3, cut).start()

    def on_trial(t):
        ended[id(t)] = time.monotonic()

    start = time.monotonic()
    with Store(lab.ws.database) as store:
        trials = run_campaign(lab, jobs, store, campaign="farm-cut", on_start=on_start, on_trial=on_trial,
                              # every timing run samples for its full 0.8 s, so the cut lands mid-trial
                              overrides={"max_time_s": 0.8, "min_samples": 3, "max_samples": 100000,
                                         "rel_ci": 1e-9})
        stored = list(store.trials(campaign="farm-cut"))
    wall = time.monotonic() - start
    assert len(trials) == len(jobs) == len(stored)
    by = {d: [t for t in trials if t.device == d] for d in ("farm-a", "farm-b", "farm-c")}
    for d in ("farm-a", "farm-b"):
        assert [t.status for t in by[d]] == [Status.OK] * len(shapes), [(t.status, t.error) for t in by[d]]
        assert all(t.max_rel_err is not None and t.max_rel_err < 1e-5 for t in by[d])
    assert all(t.insns for t in by["farm-b"]) and all(t.emulated for t in by["farm-b"])
    c = by["farm-c"]
    assert c[0].status is Status.OK
    assert all(t.status is Status.DEVICE_ERROR for t in c[1:]), [(t.status, t.error) for t in c]
    assert c[-1].error.startswith("quarantined"), c[-1].error
    # no trial waited longer than its time limit; the cut surfaced within the link timeout
    dev = lab.devices["farm-c"]
    limit = dev.timeout_s + HOST_GRACE_S + dev.connect_timeout_s
    for t in c[1:]:
        assert t.meta.get("dispatch", {}).get("trial_wall_s", 0) <= limit, t.meta
    assert cut_at, "the cut never happened"
    detect = ended[id(c[1])] - cut_at[0]
    assert 0 <= detect <= dev.link_timeout_s + dev.keepalive_s + HOST_GRACE_S + 1, detect
    print(f"\nfarm campaign: {len(trials)} trials in {wall:.1f} s; cut -> device_error in {detect:.2f} s")
    for t in c:
        print(f"  farm-c {t.status}: {t.error[:150]} ({t.meta.get('dispatch')})")
