"""Regression verdicts (campaign/regression.py), the portable results file (campaign/exchange.py),
provenance, and `tensorop compare` / `export` / `import` end to end on rv64-qemu (modelled
cycles: deterministic) with kernels read from two commits of a scratch git repository."""
from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import requires_qemu
from harness.campaign import regression
from harness.campaign.exchange import ExchangeError, export_trials, read_export, write_export
from harness.campaign.store import Store
from harness.core import stats
from harness.core.records import Status, Summary, Trial


def trial(kernel="k.c", device="rv64-qemu", **kw) -> Trial:
    base = dict(device=device, op="gemm", shape=(64, 64, 64), dtype="f32", kernel=kernel, source_hash="h",
                status=Status.OK, emulated=device != "host", campaign="c",
                model="sifive-x280 (LLVM 19.1.7)", meta={"provenance": {"model_version": "mca-v4"}})
    base.update(kw)
    return Trial(**base)


def host_trial(ratio, ci, **kw) -> Trial:
    s = Summary(n=20, median=1e-3, ci_lo=9e-4, ci_hi=1.1e-3, ci_level=0.95, minimum=9e-4, mean=1e-3, std=1e-4,
                cv=0.1, outliers=0)
    paired = {"against": "openblas", "ratio": ratio, "ratio_ci95": list(ci), "p_value": 0.01, "metric": "time",
              "pairs": 40}
    return trial(device="host", summary=s, meta={"paired": paired}, **kw)


TH = regression.Thresholds()


@pytest.mark.parametrize("base,head,verdict", [
    (100_000, 100_000, "same"), (100_000, 100_900, "same"),       # within 1% on an emulated device
    (100_000, 101_100, "slower"), (100_000, 98_900, "faster")])
def test_emulated_verdicts_follow_the_modelled_cycles(base, head, verdict):
    row = regression.judge(trial(cycles=base), trial(cycles=head), TH)
    assert row.verdict == verdict and row.change.metric == "modelled_cycles"
    assert row.change.ratio == pytest.approx(base / head)


def test_status_verdicts():
    ok, bad = trial(cycles=1.0), trial(cycles=None, status=Status.WRONG_ANSWER, error="C[3][4] wrong")
    assert regression.judge(ok, bad, TH).verdict == "broken"
    assert "C[3][4]" in regression.judge(ok, bad, TH).note
    assert regression.judge(bad, ok, TH).verdict == "new"
    assert regression.judge(None, ok, TH).verdict == "new"
    assert regression.judge(ok, None, TH).verdict == "gone"
    assert regression.judge(bad, bad, TH).verdict == "same"
    rows = [regression.judge(ok, ok, TH), regression.judge(ok, bad, TH)]
    assert regression.exit_status(rows) == 1 and regression.exit_status(rows[:1]) == 0


def test_a_changed_cycle_model_is_named_not_the_kernel():
    old = trial(cycles=100.0, meta={"provenance": {"model_version": "mca-v3"}})
    row = regression.judge(old, trial(cycles=150.0), TH)
    assert row.verdict == "model" and "mca-v3" in row.note and "mca-v4" in row.note
    assert regression.exit_status([row]) == 0


def test_separate_host_runs_need_an_in_run_reference():
    plain = trial(device="host", summary=None)
    assert regression.judge(plain, plain, TH).verdict == "unpaired"
    # each run's kernel against its own OpenBLAS: the ratios are compared, not the raw times
    base, head = host_trial(1.10, (1.08, 1.12)), host_trial(0.99, (0.97, 1.01))
    row = regression.judge(base, head, TH)
    assert row.change.metric == "time_vs_reference" and row.change.ratio == pytest.approx(0.9)
    assert row.verdict == "slower"
    assert regression.judge(base, host_trial(1.09, (1.00, 1.19)), TH).verdict == "same"   # noise


def test_ratio_of_ratios_ci_matches_a_simulation():
    """The combined interval of two independent log-normal ratios covers about 95%."""
    rng = np.random.default_rng()
    sd = 0.02
    z = 1.959963984540054
    covered = 0
    for _ in range(400):
        true_head, true_base = 0.9, 1.1
        eh, eb = rng.normal(0, sd, 2)
        rh = stats.Ratio(true_head * math.exp(eh), (true_head * math.exp(eh - z * sd), true_head * math.exp(eh + z * sd)),
                         None, "time")
        rb = stats.Ratio(true_base * math.exp(eb), (true_base * math.exp(eb - z * sd), true_base * math.exp(eb + z * sd)),
                         None, "time")
        r = stats.ratio_of_ratios(rh, rb)
        covered += r.ci95[0] <= true_head / true_base <= r.ci95[1]
    assert 0.90 <= covered / 400 <= 0.99


def test_paired_verdict_needs_the_ci_to_exclude_one():
    slow = stats.Ratio(0.90, (0.88, 0.92), 1e-6, "time", 40)
    noisy = stats.Ratio(0.94, (0.85, 1.03), 0.2, "time", 40)
    assert regression.speed_verdict(slow, 0.05) == "slower"
    assert regression.speed_verdict(noisy, 0.05) == "same"


def test_export_import_round_trip(tmp_path):
    t = trial(cycles=123.0, samples=(1.0, 2.0), cflags=("-O3",), meta={"provenance": {"tensorop_commit": "abc"}})
    with Store(tmp_path / "a.db") as st:
        st.add(t)
        (stored,) = st.campaign_trials("c")
    write_export(tmp_path / "run.json", [stored])
    (back,) = read_export(tmp_path / "run.json")
    for f in dataclasses.fields(Trial):
        if f.name != "id":
            assert getattr(back, f.name) == getattr(stored, f.name), f.name


def test_bad_results_files_are_refused_with_the_reason(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{not json")
    with pytest.raises(ExchangeError, match="not JSON"):
        read_export(f)
    doc = export_trials([trial(cycles=1.0)])
    f.write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(ExchangeError, match="version 99 is newer"):
        read_export(f)
    f.write_text(json.dumps({**doc, "schema": 99}))
    with pytest.raises(ExchangeError, match="schema 99"):
        read_export(f)
    broken = dict(doc["trials"][0])
    del broken["device"]
    f.write_text(json.dumps({**doc, "trials": [broken]}))
    with pytest.raises(ExchangeError, match="trial 0: .*device"):
        read_export(f)
    # an older store schema: a column the file lacks takes its default
    old = {k: v for k, v in doc["trials"][0].items() if k not in ("cycles", "model")}
    f.write_text(json.dumps({**doc, "trials": [old]}))
    (t,) = read_export(f)
    assert t.cycles is None and t.model == ""


# ---- end to end ---------------------------------------------------------------------------------
KERNEL = """/* a naive GEMM; EXTRA multiply-adds of a dependent chain make a slower variant */
#define EXTRA {extra}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{{
    for (int i = 0; i < M; i++) {{
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {{
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }}
    }}
    float x = C[0];
    for (int t = 0; t < EXTRA; t++) x = x * 0.999f + 0.001f;
    C[0] += x * 0.0f;
}}
"""


def cli(ws, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ws.root, capture_output=True, text=True,
                          timeout=timeout)


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "kernels"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    for i, extra in enumerate((0, 0, 400)):       # v0, a comment-only change, a slower variant
        (r / "k.c").write_text(KERNEL.format(extra=extra) + ("/* v1 */\n" if i == 1 else ""))
        git(r, "add", "k.c")
        git(r, "commit", "-q", "-m", f"v{i}")
    return r


@requires_qemu
@pytest.mark.qemu
def test_compare_two_commits_on_an_emulated_device(workspace, repo):
    k = str(repo / "k.c")
    common = ["-k", k, "-s", "24x20x16", "-d", "rv64-qemu", "-f", "json"]
    p = cli(workspace, "compare", "--base-ref", "HEAD~1", "--head-ref", "HEAD", *common)
    assert p.returncode == 1, p.stderr
    (row,) = json.loads(p.stdout)["rows"]
    assert row["verdict"] == "slower" and row["change"] < 0.99 and row["metric"] == "modelled_cycles"
    p = cli(workspace, "compare", "--base-ref", "HEAD~2", "--head-ref", "HEAD~1", *common)   # a comment only
    assert p.returncode == 0, p.stderr
    (row,) = json.loads(p.stdout)["rows"]
    assert row["verdict"] == "same" and row["change"] == 1.0
    p = cli(workspace, "compare", "--base-ref", "HEAD~1", "--head-ref", "HEAD~1", *common)   # unchanged
    assert p.returncode == 0 and "not compared" in json.loads(p.stdout)["rows"][0]["note"]
    p = cli(workspace, "compare", "--base-ref", "no-such-ref", "--head-ref", "HEAD", *common)
    assert p.returncode == 2 and "no-such-ref" in p.stderr
    # the trials carry the commit their source was read from
    with Store(workspace.database) as st:
        prov = [t.meta["provenance"] for t in st.trials() if t.kernel == "k.c"]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert any(p["kernel_commit"] == head and p["kernel_dirty"] is False for p in prov)
    assert all(p["tensorop_commit"] and p["device_hash"] and p["model_version"] for p in prov)


@requires_qemu
@pytest.mark.qemu
def test_export_import_and_compare_campaigns(workspace, repo, tmp_path):
    k = repo / "k.c"
    k.write_text(KERNEL.format(extra=0))
    p = cli(workspace, "bench", str(k), "-s", "24x20x16", "-d", "rv64-qemu", "--json")
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout.splitlines()[0])["campaign"]
    assert cli(workspace, "export", "-c", first, "-o", str(tmp_path / "base.json")).returncode == 0
    p = cli(workspace, "compare", str(tmp_path / "base.json"), "last", "-f", "md")   # the file against the database
    assert p.returncode == 0 and "| rv64-qemu | k.c |" in p.stdout and "same" in p.stdout, p.stderr
    # a slower head
    k.write_text(KERNEL.format(extra=400))
    p = cli(workspace, "bench", str(k), "-s", "24x20x16", "-d", "rv64-qemu", "--json")
    slow = json.loads(p.stdout.splitlines()[0])["campaign"]
    p = cli(workspace, "compare", str(tmp_path / "base.json"), slow, "-f", "json")
    assert p.returncode == 1 and json.loads(p.stdout)["rows"][0]["verdict"] == "slower"
    # import into another workspace's database, twice: the second adds nothing
    other = tmp_path / "other"
    other.mkdir()
    for _ in range(2):
        p = subprocess.run([sys.executable, "-m", "harness", "import", str(tmp_path / "base.json")], cwd=other,
                           capture_output=True, text=True, env={**__import__("os").environ, "TENSOROP_HOME": str(other)})
        assert p.returncode == 0, p.stderr
    assert "already in the database" in p.stderr
    # bad input: exit 2, with the reason
    assert cli(workspace, "compare", "no-such-campaign", slow).returncode == 2
    (tmp_path / "new.json").write_text(json.dumps({"format": "tensorop-results", "version": 7, "schema": 2,
                                                   "trials": []}))
    p = cli(workspace, "compare", str(tmp_path / "new.json"), slow)
    assert p.returncode == 2 and "newer" in p.stderr
    # the device's configuration changed between base and head (its devices.yaml entry edited)
    doc = json.loads((tmp_path / "base.json").read_text())
    for row in doc["trials"]:
        meta = json.loads(row["meta"])
        meta["provenance"]["device_hash"] = "0123456789abcdef"
        row["meta"] = json.dumps(meta)
    (tmp_path / "moved.json").write_text(json.dumps(doc))
    p = cli(workspace, "compare", str(tmp_path / "base.json"), str(tmp_path / "moved.json"))
    assert p.returncode == 2 and "rv64-qemu" in p.stderr and "differs" in p.stderr


def test_history_lists_a_kernels_runs(tmp_path, workspace):
    with Store(workspace.database) as st:
        for c, cyc in (("c1", 100.0), ("c2", 90.0)):
            st.add(trial(kernel="h.c", campaign=c, cycles=cyc,
                         meta={"provenance": {"kernel_commit": "abcdef1234567", "kernel_dirty": True}}))
    p = cli(workspace, "report", "--history", "h.c", "--chart", str(tmp_path / "h.png"))
    assert p.returncode == 0, p.stderr
    assert "abcdef1234+dirty" in p.stdout and "90 cycles" in p.stdout
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert cli(workspace, "report", "--history", "nothing.c").returncode == 2
