"""Figures for the SSH farm (issue 3), measured with real sshd servers (loopback and a
three-host network-namespace farm, as in tests/test_farm_netns.py). Needs root.

    .venv/bin/python benchmarks/ssh_overhead.py [--trials 15] [--json out.json]

1. median per-trial SSH overhead: the same small trial on `host` (local) and over ssh (loopback)
2. trials per minute on one farm device vs three in parallel
3. seconds from a cut link to device_error (default and tight link settings)
4. bytes uploaded for a second trial of the same kernel, and for a new kernel
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from harness.backends import baseline_kernel  # noqa: E402
from harness.campaign.scheduler import Job, run_campaign  # noqa: E402
from harness.config.lab import Lab  # noqa: E402
from harness.core.records import Status  # noqa: E402
from harness.campaign.store import Store  # noqa: E402
from harness.transport import get_transport  # noqa: E402
from harness.transport.ssh import SSHTransport  # noqa: E402
from harness.measure.runner import MeasureOptions, run_trial  # noqa: E402
from harness.core.workspace import Workspace  # noqa: E402
from sshd_fixture import (NetnsHost, SSHKeys, SSHServer, can_make_netns, device_yaml, farm_guard_down,  # noqa: E402
                          farm_guard_up, free_port, have_sshd, remove_stale_farms)

SHAPE = (64, 64, 64)
OPTS = MeasureOptions(warmup=1, min_sample_s=0.005, min_samples=3, max_samples=5, max_time_s=0.2)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=15)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    why = have_sshd() or can_make_netns()
    if why:
        print(f"cannot measure here: {why}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ssh-bench-"))
    ws_root = tmp / "ws"
    ws_root.mkdir()
    shutil.copytree(REPO / "toolchains", ws_root / "toolchains")
    os.environ.setdefault("TENSOROP_CACHE", str(REPO / ".cache"))
    os.environ["TENSOROP_DB"] = str(tmp / "bench.db")
    keys = SSHKeys(tmp / "keys")
    results: dict = {}
    servers, hosts = [], []
    remove_stale_farms()
    farm_guard_up()
    try:
        lb = SSHServer(tmp / "lb", "127.0.0.1", free_port(), keys.authorized_keys).start()
        servers.append(lb)
        for i in (1, 2, 3):
            h = NetnsHost(i, str(os.getpid())).create()
            hosts.append(h)
            servers.append(SSHServer(tmp / f"h{i}", h.address, 22, keys.authorized_keys, netns=h.ns).start())
        known = tmp / "known_hosts"
        known.write_text("".join(s.known_hosts_line for s in servers))
        common = dict(key=keys.user_key, known_hosts=known, timeout_s=10)
        text = ("devices:\n  host:\n    arch: native\n    toolchain: host-cc\n    timeout_s: 10\n"
                "    env: {OPENBLAS_NUM_THREADS: '1'}\n"
                + device_yaml("lb", host="127.0.0.1", port=lb.port, workdir=tmp / "wd-lb", **common)
                + "".join(device_yaml(f"farm-{c}", host=h.address, port=22, workdir=tmp / f"wd-{c}", **common)
                          for c, h in zip("abc", hosts))
                + device_yaml("farm-c-default", host=hosts[2].address, port=22, workdir=tmp / "wd-cd", **common)
                .replace("    connect_timeout_s: 3\n    keepalive_s: 1\n    link_timeout_s: 3\n", ""))
        (ws_root / "devices.yaml").write_text(text)
        lab = Lab.load(Workspace(ws_root))
        naive = baseline_kernel(lab.ws, "naive", "x86_64")
        blas = baseline_kernel(lab.ws, "openblas", "x86_64")

        # 1. per-trial overhead: local vs ssh, same kernel/shape/options (alternating, after a warm-up)
        walls = {"host": [], "lb": []}
        with get_transport(lab.devices["host"], lab.ws) as tl, SSHTransport(lab.devices["lb"], lab.ws) as ts:
            for t, d in ((tl, "host"), (ts, "lb")):
                run_trial(lab.ws, lab.devices[d], lab.toolchain(lab.devices[d]), t, naive, SHAPE, OPTS)
            for _ in range(a.trials):
                for t, d in ((tl, "host"), (ts, "lb")):
                    t0 = time.perf_counter()
                    tr = run_trial(lab.ws, lab.devices[d], lab.toolchain(lab.devices[d]), t, naive, SHAPE, OPTS)
                    walls[d].append(time.perf_counter() - t0)
                    assert tr.status is Status.OK, tr.error
            cmd = []
            for _ in range(30):
                t0 = time.perf_counter()
                ts.run_command(["true"], timeout_s=5)
                cmd.append(time.perf_counter() - t0)
            runs = ts.stats.commands
        results["per_trial_local_s"] = med(walls["host"])
        results["per_trial_ssh_s"] = med(walls["lb"])
        results["per_trial_ssh_overhead_ms"] = (med(walls["lb"]) - med(walls["host"])) * 1000
        results["per_command_roundtrip_ms"] = med(cmd) * 1000
        print(f"1. per-trial: local {med(walls['host'])*1000:.1f} ms, ssh {med(walls['lb'])*1000:.1f} ms -> "
              f"overhead {results['per_trial_ssh_overhead_ms']:.1f} ms/trial (2 runs + 2 output fetches); "
              f"wrapped command round trip {results['per_command_roundtrip_ms']:.1f} ms")

        # 2. trials per minute: one farm device vs three in parallel
        def campaign(devs, n):
            jobs = [Job(naive, d, SHAPE) for _ in range(n) for d in devs]
            with Store(lab.ws.database) as store:
                t0 = time.perf_counter()
                trials = run_campaign(lab, jobs, store, overrides={"max_time_s": 0.2, "min_samples": 3,
                                                                   "max_samples": 5, "warmup": 1})
                dt = time.perf_counter() - t0
            assert all(t.status is Status.OK for t in trials), [t.error for t in trials if t.status is not Status.OK]
            return len(trials) / dt * 60
        campaign(["farm-a", "farm-b", "farm-c"], 1)          # warm: uploads, connections
        one = campaign(["farm-a"], a.trials)
        three = campaign(["farm-a", "farm-b", "farm-c"], a.trials)
        results["trials_per_min_one_device"] = one
        results["trials_per_min_three_devices"] = three
        print(f"2. trials/min: one device {one:.0f}, three devices {three:.0f} ({three / one:.2f}x; the three "
              f"'hosts' share this machine's {os.cpu_count()} cores)")

        # 4. bytes uploaded (before cutting anything)
        with SSHTransport(lab.devices["farm-a"], lab.ws) as t:
            d = lab.devices["farm-a"]
            wd = Path(t.workdir)
            shutil.rmtree(wd / "blobs", ignore_errors=True)
            t.connect()
            run_trial(lab.ws, d, lab.toolchain(d), t, blas, SHAPE, OPTS)
            first = t.stats.bytes_uploaded
            run_trial(lab.ws, d, lab.toolchain(d), t, blas, SHAPE, OPTS)
            second = t.stats.bytes_uploaded - first
            run_trial(lab.ws, d, lab.toolchain(d), t, naive, SHAPE, OPTS)
            new_kernel = t.stats.bytes_uploaded - first - second
        results.update(bytes_first_trial_openblas=first, bytes_second_trial_same_kernel=second,
                       bytes_trial_new_kernel=new_kernel)
        print(f"4. uploaded: first OpenBLAS trial {first} B (driver + libscipy_openblas), second trial of the same "
              f"kernel {second} B, a new kernel {new_kernel} B (its driver binary only; inputs never travel)")

        # 3. cut link -> device_error, with tight and default link settings
        for name, label in (("farm-c", "tight (keepalive 1 s, link timeout 3 s)"),
                            ("farm-c-default", "defaults (keepalive 2 s, link timeout 10 s)")):
            d = lab.devices[name]
            long_opts = MeasureOptions(warmup=1, min_sample_s=0.05, min_samples=50, max_samples=1000,
                                       max_time_s=8.0, rel_ci=0.0001)
            with SSHTransport(d, lab.ws) as t:
                run_trial(lab.ws, d, lab.toolchain(d), t, naive, SHAPE, OPTS)      # connected, uploaded
                cut = []
                def do_cut():
                    hosts[2].cut()
                    cut.append(time.perf_counter())
                timer = threading.Timer(1.0, do_cut)
                timer.start()
                tr = run_trial(lab.ws, d, lab.toolchain(d), t, naive, (128, 128, 128), long_opts)
                done = time.perf_counter()
                timer.join()
            assert tr.status is Status.DEVICE_ERROR, (tr.status, tr.error)
            results[f"cut_to_device_error_s_{name}"] = done - cut[0]
            print(f"3. cut link -> device_error: {done - cut[0]:.2f} s with {label}: {tr.error[:100]}")
            os.system(f"ip link set {hosts[2].veth} up >/dev/null 2>&1")
            time.sleep(0.5)
    finally:
        for s in servers:
            s.stop()
        for h in hosts:
            h.destroy()
        farm_guard_down()
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
