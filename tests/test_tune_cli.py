"""`tensorop tune` end to end on the host at 64x64x64: generate a kernel folder, tune it with a
budget of 4 (one JSON object per trial, then the summary), resume it to 6 without measuring
any point again, and the folder rewritten only when the incumbent changed."""
import json
import subprocess
import sys

FAST = ["--max-time", "0.05"]


def cli(ws, *args):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          cwd=ws.root, timeout=300)


def test_tune_host_budget_resume_and_write_back(workspace):
    p = cli(workspace, "generate", "64x64x64 GEMM on host", "--rounds", "1", "--tune-budget", "0", "--max-time",
            "0.05", "--search-max-time", "0.05")
    assert p.returncode == 0, p.stdout + p.stderr
    folder = workspace.generated / "host" / "gemm_64x64x64_f32"
    before = (folder / "kernel.c").read_text()
    p = cli(workspace, "tune", folder, "--strategy", "random", "--budget", "4", "--seed", "1", "--json", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    trials, summary = lines[:-1], lines[-1]
    assert len(trials) == 4 and all(t["strategy"] == "random" for t in trials)
    assert all(t["status"] == "ok" and t["cost"] > 0 and t["trial_id"] for t in trials), [(t["status"], t.get("error")) for t in trials]
    assert summary["summary"] and summary["trials"] == 4 and summary["strategy"] == "random"
    assert summary["objective"] == "time" and summary["best"]["point"]
    written = summary["written"]
    if written:
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["tune"]["strategy"] == "random" and meta["tune"]["objective"] == "time"
        assert (folder / "kernel.c").read_text() != before
    else:
        assert (folder / "kernel.c").read_text() == before
    # resume to 6: the first 4 come from the database, only 2 are measured
    p = cli(workspace, "tune", folder, "--strategy", "random", "--budget", "6", "--seed", "1", "--resume",
            "--json", "--no-write", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(lines) == 3 and lines[-1]["trials"] == 6 and lines[-1]["prior"] == 4
    new_points = [json.dumps(l["point"], sort_keys=True) for l in lines[:-1]]
    old_points = [json.dumps(t["point"], sort_keys=True) for t in trials]
    assert not set(new_points) & set(old_points)
    from harness.campaign.store import Store
    with Store(workspace.database) as st:
        n = sum(1 for t in st.trials(campaign=summary["campaign"]))
    assert n == 6


def test_a_killed_search_resumes_within_its_budget(workspace):
    """`tune --budget 6` killed with SIGKILL after its second trial, then `--resume`: the campaign
    holds exactly 6 trials of 6 distinct points (none measured twice, none over the budget; the
    final comparison with the baseline is stored apart). It once stored 45 trials of 42 points
    for a budget of 30."""
    p = cli(workspace, "generate", "48x40x32 GEMM on host", "--rounds", "1", "--tune-budget", "0", "--max-time", "0.05",
            "--search-max-time", "0.05")
    assert p.returncode == 0, p.stdout + p.stderr
    folder = workspace.generated / "host" / "gemm_48x40x32_f32"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "tune", str(folder), "--strategy", "mcts", "--budget", "6",
                             "--seed", "7", "--json", *FAST], cwd=workspace.root, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    seen = [proc.stdout.readline() for _ in range(2)]
    proc.kill()
    proc.wait(timeout=30)
    assert all(l.startswith("{") for l in seen), seen
    p = cli(workspace, "tune", folder, "--strategy", "mcts", "--budget", "6", "--seed", "7", "--resume", "--json", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = json.loads(p.stdout.splitlines()[-1])
    assert summary["trials"] == 6 and 2 <= summary["prior"] < 6, summary
    from harness.campaign.store import Store
    with Store(workspace.database) as st:
        stored = [t for t in st.trials(campaign=summary["campaign"])]
    assert len(stored) == 6 and len({t.kernel for t in stored}) == 6, [t.kernel for t in stored]


def test_tune_knows_its_start_point_with_a_thread_count(workspace):
    """A threaded kernel's folder (T=2: a task parameter, not a tuned one) is tuned from its own
    point: with a budget of 1 the only trial is the start, which is found as such, so the folder
    is not rewritten (it once compared the start without T, never found it, and wrote it back)."""
    p = cli(workspace, "generate", "64x64x64 GEMM on host-2t", "--rounds", "1", "--tune-budget", "0",
            "--max-time", "0.05", "--search-max-time", "0.05")
    assert p.returncode == 0, p.stdout + p.stderr
    folder = workspace.generated / "host-2t" / "gemm_64x64x64_f32"
    assert json.loads((folder / "params.json").read_text())["values"].get("T") == 2
    p = cli(workspace, "tune", folder, "--budget", "1", "--json", *FAST)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = json.loads(p.stdout.splitlines()[-1])
    assert summary["start"] and summary["start"]["point"]["T"] == 2
    assert summary["written"] is False
