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
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ws.root, timeout=600)


def test_report_formats_and_openblas_ratio(workspace):
    p = cli(workspace, "baseline", "openblas", "-s", "64x48x40", "-d", "host", "--json", *FAST)
    assert p.returncode == 0, p.stderr
    ob = json.loads(p.stdout)
    assert ob["kernel"] == "openblas" and ob["status"] == "ok"
    p = cli(workspace, "bench", NAIVE, "-s", "64x48x40", "-d", "host", *FAST)
    assert p.returncode == 0, p.stderr
    assert "naive_gemm.c" in p.stdout and "vs OpenBLAS" in p.stdout       # the human table
    p = cli(workspace, "report", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert {r["kernel"] for r in rows} == {"openblas", "naive_gemm.c"}
    naive = next(r for r in rows if r["kernel"] == "naive_gemm.c")
    ratio = float(naive["vs_openblas"])
    assert naive["ratio_basis"] == "time"
    assert abs(ratio - float(ob["median_s"]) / float(naive["median_s"])) < 1e-9
    md = cli(workspace, "report", "--format", "md").stdout
    assert md.startswith("| id | device |") and "naive_gemm.c" in md
    assert cli(workspace, "report", "--format", "xml").returncode == 2


@requires_qemu
def test_emulated_results_are_labelled_and_compared_by_instructions(workspace):
    p = cli(workspace, "baseline", "openblas", "-s", "32", "-d", "rv64-qemu", "--json", *FAST)
    assert p.returncode == 0, p.stderr
    p = cli(workspace, "bench", NAIVE, "-s", "32", "-d", "rv64-qemu", "--json", *FAST)
    t = json.loads(p.stdout)
    assert t["emulated"] is True and t["insns"] > 0
    rows = list(csv.DictReader(io.StringIO(cli(workspace, "report", "--format", "csv").stdout)))
    naive = next(r for r in rows if r["kernel"] == "naive_gemm.c")
    assert naive["ratio_basis"] == "insns" and naive["emulated"] == "1"
    assert "emulated" in cli(workspace, "report").stdout


def test_bad_arguments_are_clear(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "12xbanana")
    assert p.returncode == 2 and "bad GEMM shape" in p.stderr
    p = cli(workspace, "bench", NAIVE, "-d", "cray-1")
    assert p.returncode == 2 and "unknown device 'cray-1'" in p.stderr and "rv64-qemu" in p.stderr
    p = cli(workspace, "bench", "no_such_kernel.c")
    assert p.returncode == 2 and "no such kernel file" in p.stderr
    p = cli(workspace, "bench", NAIVE, "--op", "conv2d")
    assert p.returncode == 2 and "only --op gemm" in p.stderr


def test_device_alias_resolves(workspace):
    p = cli(workspace, "bench", NAIVE, "-s", "16", "-d", "NATIVE", "--json", *FAST)
    assert json.loads(p.stdout)["device"] == "host"
