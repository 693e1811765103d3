"""Figures for the labgrid transport (issue 13), with a real labgrid coordinator and exporter on
loopback whose NetworkService resources point at two loopback sshd's (two "boards").

    .venv/bin/python benchmarks/labgrid_overhead.py [--trials 12] [--rounds 10] [--json out.json]

1. seconds to reserve (by tags) + acquire + release a place (coordinator round trips only), and
   the same including the SSH connection to the board (LabgridTransport.open + close)
2. trials per minute of one small campaign: plain SSH transport (one board) vs the labgrid
   device (two places, two lanes)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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
from harness.transport.labgrid import Coordinator  # noqa: E402
from harness.core.workspace import Workspace  # noqa: E402
from sshd_fixture import SSHKeys, SSHServer, device_yaml, free_port, have_sshd  # noqa: E402

BIN = Path(sys.executable).parent
FAST = {"max_time_s": 0.05, "min_samples": 3, "warmup": 1}


def client(addr: str, *args: str) -> str:
    return subprocess.run([str(BIN / "labgrid-client"), *args], env={**os.environ, "LG_COORDINATOR": addr},
                          capture_output=True, text=True, timeout=30, check=True).stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if have_sshd():
        print(f"cannot measure here: {have_sshd()}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="labgrid-bench-"))
    ws_root = tmp / "ws"
    ws_root.mkdir()
    shutil.copytree(REPO / "toolchains", ws_root / "toolchains")
    os.environ.setdefault("TENSOROP_CACHE", str(REPO / ".cache"))
    keys = SSHKeys(tmp / "keys")
    boards = {n: SSHServer(tmp / n, "127.0.0.1", free_port(), keys.authorized_keys).start() for n in ("board-a", "board-b")}
    known = tmp / "known_hosts"
    known.write_text("".join(b.known_hosts_line for b in boards.values()))
    port = free_port()
    addr = f"127.0.0.1:{port}"
    (tmp / "coord").mkdir()
    procs = [subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", addr], cwd=tmp / "coord",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        cfg = tmp / "exporter.yaml"
        cfg.write_text("".join(f"{n}:\n  NetworkService:\n    address: 127.0.0.1\n    port: {b.port}\n    username: root\n"
                               for n, b in boards.items()))
        procs.append(subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", addr, "-n", "exp", "--hostname",
                                       "127.0.0.1", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for n in boards:
            p = n.replace("board", "k1")
            client(addr, "-p", p, "create")
            client(addr, "-p", p, "add-match", f"exp/{n}/NetworkService")
            client(addr, "-p", p, "set-tags", "board=k1")
        while "exp/board-b/NetworkService" not in client(addr, "resources"):
            time.sleep(0.2)
        common = (f"    user: root\n    key: {keys.user_key}\n    known_hosts: {known}\n    toolchain: host-cc\n"
                  f"    timeout_s: 10\n    connect_timeout_s: 3\n    env: {{OPENBLAS_NUM_THREADS: '1'}}\n")
        (ws_root / "devices.yaml").write_text(
            "devices:\n  host:\n    arch: native\n    toolchain: host-cc\n"
            + device_yaml("lb", host="127.0.0.1", port=boards["board-a"].port, key=keys.user_key, known_hosts=known,
                          workdir=tmp / "remote-lb", arch=os.uname().machine)
            + f"  k1-lab:\n    arch: native\n    transport: labgrid\n    coordinator: {addr}\n    tags: {{board: k1}}\n"
            + f"    workdir: {tmp / 'remote-lab'}\n" + common)
        lab = Lab.load(Workspace.discover(str(ws_root)))
        coord = Coordinator.get(addr)

        cycle = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            tok = coord.reserve({"board": "k1"})
            while True:
                state, place = coord.poll(tok)
                if place:
                    break
                time.sleep(0.01)
            coord.acquire(place, tok)
            coord.release(place)
            cycle.append(time.perf_counter() - t0)
        with_ssh = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            with get_transport(lab.devices["k1-lab"], lab.ws) as t:
                t.open()
            with_ssh.append(time.perf_counter() - t0)

        naive = baseline_kernel(lab.ws, "naive", lab.devices["lb"].arch)
        rates = {}
        with Store(lab.ws.database) as store:
            run_campaign(lab, [Job(naive, "lb", (32, 32, 32))], store, overrides=FAST)      # build + upload once
            for dev in ("lb", "k1-lab"):
                jobs = [Job(naive, dev, (32 + 8 * (i % 4), 32, 32)) for i in range(a.trials)]
                t0 = time.perf_counter()
                trials = run_campaign(lab, jobs, store, overrides=FAST)
                took = time.perf_counter() - t0
                ok = sum(t.status is Status.OK for t in trials)
                places = sorted({t.meta.get("board", {}).get("place", "-") for t in trials})
                rates[dev] = {"trials": len(trials), "ok": ok, "seconds": round(took, 2),
                              "trials_per_min": round(60 * len(trials) / took, 1), "places": places}
        out = {"reserve_acquire_release_s": {"median": round(statistics.median(cycle), 4), "max": round(max(cycle), 4)},
               "open_close_with_ssh_s": {"median": round(statistics.median(with_ssh), 4),
                                         "max": round(max(with_ssh), 4)},
               "campaign": rates, "cpus": os.cpu_count()}
        print(json.dumps(out, indent=2))
        if a.json:
            a.json.write_text(json.dumps(out, indent=2))
        return 0
    finally:
        Coordinator.close_all()
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)
        for b in boards.values():
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
