"""Each kind of broken kernel gets its status, with a row in the database, on the host and
under QEMU, in one campaign with a good kernel that stays unaffected. Real compilers, real QEMU."""
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from conftest import FAULTY, REPO, requires_qemu

serial = pytest.mark.serial   # time limits and timings on this host: run alone (QEMU's need not)

EXPECTED = {
    "off_by_one.c": "wrong_answer",
    "unwritten_row.c": "wrong_answer",
    "ignores_ld.c": "wrong_answer",
    "writes_padding.c": "wrong_answer",
    "low_precision.c": "wrong_answer",
    "endless_loop.c": "timeout",
    "null_write.c": "crash",
    "calls_blas.c": "rejected",
    "dlopen_blas.c": "rejected",
    "syntax_error.c": "compile_error",
    "undefined_helper.c": "link_error",
}
GOOD = REPO / "baselines" / "naive_gemm.c"


def set_timeouts(ws, emulated_s: float, native_s: float):
    """Set every device's timeout_s through the YAML (not by editing text), and check it took."""
    from harness.config.devices import load_devices
    p = ws.root / "devices.yaml"
    data = yaml.safe_load(p.read_text())
    for dev in data["devices"].values():
        dev["timeout_s"] = emulated_s if dev.get("emulated") else native_s
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    for d in load_devices(p).values():
        assert d.timeout_s == (emulated_s if d.emulation else native_s), d.name   # user or system mode


def fast_devices(ws):
    """Short time limits so the endless loop is killed in seconds."""
    set_timeouts(ws, emulated_s=4, native_s=3)


def bench(ws, files, devices, shape="48x40x36", extra=()):
    cmd = [sys.executable, "-m", "harness", "bench", *map(str, files), "-s", shape, "--json",
           "--max-time", "0.1", "--min-samples", "3", "--max-samples", "5", *extra]
    for d in devices:
        cmd += ["-d", d]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ws.root, timeout=300)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p, rows, time.monotonic() - start


def assert_no_spinner(ws, toolchains, why):
    """No process runs from a build of endless_loop.c for these toolchains (only those: tests of
    other files may be running their own programs from the shared build cache meanwhile)."""
    builds = [b.parent for b in (ws.cache / "builds").glob("*/build.json")
              if "endless_loop" in b.read_text() and json.loads(b.read_text()).get("toolchain") in toolchains]
    assert builds, "no build of endless_loop.c found"
    for build in builds:
        out = subprocess.run(["pgrep", "-f", str(build)], capture_output=True, text=True)
        assert out.stdout.strip() == "", f"{why}: {out.stdout}"


def check_campaign(ws, devices):
    fast_devices(ws)
    files = [GOOD, *(FAULTY / f for f in EXPECTED)]
    p, rows, _ = bench(ws, files, devices)
    assert p.returncode == 1, p.stderr          # not every trial is ok
    assert len(rows) == len(files) * len(devices), p.stderr
    for r in rows:
        want = "ok" if r["kernel"] == GOOD.name else EXPECTED[r["kernel"]]
        assert r["status"] == want, (r["device"], r["kernel"], r["error"])
        if want == "ok" and r["emulated"]:          # one profiled call: modelled cycles, no timing
            assert r["cycles"] > 0 and r["insns"] > 0 and r["model"] and r["n"] == 0 and r["median_s"] is None
            assert r["max_rel_err"] < 1e-5
        elif want == "ok":
            assert r["median_s"] > 0 and r["ci95_s"][0] <= r["median_s"] <= r["ci95_s"][1]
            assert r["max_rel_err"] < 1e-5 and r["n"] >= 3 and r["insns"] is None and r["cycles"] is None
        if r["kernel"] == "null_write.c":
            assert "SIGSEGV" in r["error"]
        if r["kernel"] == "off_by_one.c":
            assert "relative Frobenius error" in r["error"] and "C[" in r["error"]
        if r["kernel"] == "unwritten_row.c":
            assert "never written" in r["error"]
        if r["kernel"] == "calls_blas.c":
            assert "cblas_sgemm" in r["error"]
    db = sqlite3.connect(ws.database)
    stored = dict(((d, k), s) for d, k, s in db.execute("SELECT device, kernel, status FROM trials"))
    assert len(stored) == len(rows)
    for r in rows:
        assert stored[(r["device"], r["kernel"])] == r["status"]
    # nothing the endless loop started is still running
    assert_no_spinner(ws, {r["toolchain"] for r in rows}, "a killed kernel is still running")
    return rows


@serial
def test_statuses_on_host(workspace):
    rows = check_campaign(workspace, ["host"])
    timeout = next(r for r in rows if r["kernel"] == "endless_loop.c")
    assert "killed after" in timeout["error"]


@requires_qemu
@pytest.mark.qemu
def test_statuses_under_qemu(workspace):
    check_campaign(workspace, ["rv64-qemu", "arm64-qemu"])


@serial
def test_exit_code_zero_when_all_ok(workspace):
    p, rows, _ = bench(workspace, [GOOD], ["host"], shape="33x17x9")
    assert p.returncode == 0, p.stderr
    assert [r["status"] for r in rows] == ["ok"]
    for key in ("device", "op", "shape", "dtype", "status", "max_rel_err", "median_s", "ci95_s", "cv", "n",
                "inner_loops", "gflops", "insns", "emulated", "toolchain"):
        assert key in rows[0]
    assert rows[0]["shape"] == [33, 17, 9] and rows[0]["emulated"] is False and rows[0]["insns"] is None


@serial
def test_killed_campaign_keeps_finished_trials(workspace):
    """SIGKILL a campaign while its second kernel spins: the first trial is already on disk."""
    set_timeouts(workspace, emulated_s=60, native_s=60)
    cmd = [sys.executable, "-m", "harness", "bench", str(GOOD), str(FAULTY / "endless_loop.c"), "-s", "32",
           "-d", "host", "--json", "--max-time", "0.1", "--min-samples", "3"]
    proc = subprocess.Popen(cmd, cwd=workspace.root, stdout=subprocess.PIPE, text=True, start_new_session=True)
    first = proc.stdout.readline()
    assert json.loads(first)["status"] == "ok"
    time.sleep(1.0)                                 # the endless loop is running now
    os.killpg(proc.pid, 9)
    proc.wait()
    db = sqlite3.connect(workspace.database)
    rows = list(db.execute("SELECT kernel, status, median_s FROM trials"))
    assert rows == [(GOOD.name, "ok", json.loads(first)["median_s"])]
    time.sleep(0.5)
    assert_no_spinner(workspace, {"host-cc"}, "the spinning kernel outlived the killed campaign")


@serial
def test_campaign_id_printed_and_resume_replaces_device_errors(workspace):
    """The campaign id comes first on stderr and in every --json object; `--resume last` re-runs a
    device_error and the re-run replaces it in the rows and the exit status."""
    p = workspace.root / "devices.yaml"
    data = yaml.safe_load(p.read_text())
    data["devices"]["flaky"] = {**data["devices"]["host"], "aliases": [], "runner": ["/nonexistent/runner"]}
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    first, rows, _ = bench(workspace, [GOOD], ["flaky"], shape="16x8x4")
    assert first.returncode == 1 and [r["status"] for r in rows] == ["device_error"], first.stderr
    campaign = first.stderr.splitlines()[0].split()[1]
    assert first.stderr.startswith(f"campaign {campaign}") and rows[0]["campaign"] == campaign
    data["devices"]["flaky"]["runner"] = []                  # the device is fixed
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    again, rows, _ = bench(workspace, [GOOD], ["flaky"], shape="16x8x4", extra=("--resume", "last"))
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in rows] == ["ok"] and rows[0]["campaign"] == campaign
    assert "1 jobs in all" in again.stderr
    table = subprocess.run([sys.executable, "-m", "harness", "bench", str(GOOD), "-s", "16x8x4", "-d", "flaky",
                            "--resume", campaign], capture_output=True, text=True, cwd=workspace.root, timeout=300)
    assert table.returncode == 0, table.stderr                # nothing left to run; the result set is all ok
    assert table.stdout.count("naive_gemm.c") == 1, table.stdout
