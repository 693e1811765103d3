"""The command line as a user meets it: bench/baseline/report formats and exit codes."""
import csv
import io
import json
import subprocess
import sys

from conftest import REPO, requires_qemu

NAIVE = REPO / "baselines" / "naive_gemm.c"
FAST = ["--max-time", "0.1", "--min-samples", "3", "--max-samples", "6"]


def cli(ws, *args):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          cwd=ws.root, timeout=300)


def test_report_formats_and_paired_openblas_ratio(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "64x48x40", "-d", "host", "--json", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    alone = json.loads(p.stdout)
    assert alone["paired"] is None                     # measured alone: no ratio to anything
    p = cli(workspace, "bench", NAIVE, "-s", "64x48x40", "-d", "host", "--against", "openblas", "--budget", "3",
            "--json", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    naive = next(r for r in rows if r["kernel"] == "naive_gemm.c")
    assert naive["against"] == "openblas" and naive["metric"] == "time" and naive["pairs"] >= 3
    lo, hi = naive["ratio_ci95"]
    assert lo <= naive["ratio"] <= hi and 0 <= naive["p_value"] <= 1
    assert naive["ratio"] < 1.0                         # the textbook loop is slower than OpenBLAS
    rows = list(csv.DictReader(io.StringIO(cli(workspace, "report", "--format", "csv", "--all").stdout)))
    paired = [r for r in rows if r["kernel"] == "naive_gemm.c" and r["vs_openblas"]]
    assert len(paired) == 1 and paired[0]["ratio_basis"] == "time"      # the unpaired trial gets no ratio
    assert abs(float(paired[0]["vs_openblas"]) - naive["ratio"]) < 1e-9
    assert float(paired[0]["ratio_ci_lo"]) == lo
    table = cli(workspace, "report").stdout
    assert "naive_gemm.c" in table and "(paired)" in table
    md = cli(workspace, "report", "--format", "md").stdout
    assert md.startswith("| id | device |") and "naive_gemm.c" in md
    assert cli(workspace, "report", "--format", "xml").returncode == 2


@requires_qemu
def test_emulated_results_are_modelled_and_compared_by_cycles(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "32", "-d", "rv64-qemu", "--against", "openblas", "--json")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    t = next(r for r in rows if r["kernel"] == "naive_gemm.c")
    assert t["emulated"] is True and t["cycles"] > 0 and t["insns"] > 0 and t["model"]
    assert t["metric"] == "modelled_cycles" and t["ratio_ci95"] is None and t["gflops_basis"] == "modelled"
    ob = next(r for r in rows if r["kernel"] == "openblas")
    assert abs(t["ratio"] - ob["cycles"] / t["cycles"]) < 1e-9
    assert t["median_s"] is None and t["n"] == 0          # no timing repetitions under QEMU
    rows = list(csv.DictReader(io.StringIO(cli(workspace, "report", "--format", "csv").stdout)))
    naive = next(r for r in rows if r["kernel"] == "naive_gemm.c")
    assert naive["ratio_basis"] == "modelled_cycles" and naive["emulated"] == "1"
    assert "modelled" in cli(workspace, "report").stdout


def test_bad_arguments_are_clear(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "12xbanana")
    assert p.returncode == 2 and "bad GEMM shape" in p.stderr
    p = cli(workspace, "bench", NAIVE, "-d", "cray-1")
    assert p.returncode == 2 and "unknown device 'cray-1'" in p.stderr and "rv64-qemu" in p.stderr
    p = cli(workspace, "bench", "no_such_kernel.c")
    assert p.returncode == 2 and "no such kernel file" in p.stderr
    p = cli(workspace, "bench", NAIVE, "--op", "conv3d")
    assert p.returncode == 2 and "conv3d f32 is not supported" in p.stderr and "conv2d f32" in p.stderr
    p = cli(workspace, "bench", NAIVE, "--op", "conv2d", "-s", "1x2x3,4x3x3")
    assert p.returncode == 2 and "NxCxHxW,KxRxS" in p.stderr
    p = cli(workspace, "bench", NAIVE, "--op", "conv2d", "-s", "1x2x8x8,4x3x3,s1,p1", *FAST)
    assert p.returncode == 1 and "rejected" in p.stderr       # a GEMM kernel has no conv2d ABI symbol


def test_device_alias_resolves(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "16", "-d", "NATIVE", "--json", *FAST)
    assert json.loads(p.stdout)["device"] == "host"
