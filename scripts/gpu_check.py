"""Every CUDA part of tensorop, run on a machine with an NVIDIA GPU, its records kept as files.

scripts/gpu_check.sh prepares the machine (Python packages carried as wheels, bubblewrap, the
CUDA libraries' folders) and calls this; it can also run on its own where tensorop is installed:

    python scripts/gpu_check.py OUTDIR [--deadline 480] [--group correctness,hostile,timing,generate]
                                       [--device-name NAME --sm sm_90a]   (default: from nvidia-smi)

What it runs, through tensorop's own CLI (the same build, gate, sandbox, driver, checks and
store as any user's run), each step with a timeout and the whole within --deadline seconds:
  correctness  the expert kernels (kernels/cuda/*.cu) on awkward shapes: each must be `ok`
  hostile      kernels/cuda/faulty and kernels/cuda/hostile: each must get the status its
               header's `EXPECT:` line names (stream_escape.cu is paired with honest_twin.cu)
  timing       f16 GEMM 4096^3 and 8192^3 against cuBLAS, f32 GEMM 4096^3 against cuBLAS SGEMM,
               the paper's conv layers against cuDNN: paired, interleaved, with the GPU's clocks
  generate     `tensorop generate` for a 4096^3 f16 GEMM on the GPU (expert candidates + tuning)

OUTDIR gets: devices.yaml (the GPU as a local device), tensorop.db (the results database:
`tensorop report --db`-able, and importable here), steps.jsonl (one record per step: command,
exit status, duration, the trials' JSON, expected vs got), nvidia-smi.txt, logs/, generated/ and
summary.md (the table printed last). Exit status 0 when every expectation held, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUDA = ROOT / "kernels" / "cuda"
GROUPS = ("correctness", "hostile", "timing", "generate")


@dataclass
class Step:
    name: str
    group: str
    argv: list[str]                         # tensorop CLI arguments
    expect: dict[str, str] = field(default_factory=dict)   # kernel file name -> expected status
    timeout_s: float = 120.0
    clocks: bool = False                    # read the GPU clocks before and after


@dataclass
class StepResult:
    name: str
    group: str
    command: list[str]
    rc: int | None
    seconds: float
    records: list[dict]
    checks: list[dict]                      # {kernel, expected, got, ok}
    stderr_tail: str = ""
    clocks_before: str = ""
    clocks_after: str = ""
    skipped: str = ""


def expected_status(path: Path) -> str:
    """The status a shipped faulty or hostile kernel must get: its header's `EXPECT:` line (the
    first word: ok, rejected, wrong_answer, crash, timeout, or ok-honest)."""
    m = re.search(r"EXPECT:\s*([a-z_-]+)", path.read_text(errors="replace"))
    return m.group(1) if m else "ok"


def nvidia_smi(*args: str) -> str:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"nvidia-smi failed: {e}"


def clocks() -> str:
    return nvidia_smi("--query-gpu=clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw,utilization.gpu",
                      "--format=csv,noheader").strip()


def detect_gpu() -> tuple[str, str]:
    """(device name, sm_XX) of GPU 0 from nvidia-smi; ('gpu', 'sm_90a') when it cannot tell."""
    out = nvidia_smi("--query-gpu=name,compute_cap", "--format=csv,noheader").strip().splitlines()
    if not out or "," not in out[0]:
        return "gpu", "sm_90a"
    name, cc = (x.strip() for x in out[0].split(",", 1))
    major, _, minor = cc.partition(".")
    sm = f"sm_{major}{minor}" + ("a" if major == "9" else "")        # wgmma needs the 'a' target
    short = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("nvidia", "")).strip("-") or "gpu"
    return short.split("-")[0] if short.split("-")[0].startswith(("h", "a", "l", "b")) else short, sm


def devices_yaml(name: str, sm: str, timeout_s: int, sandbox: bool = True) -> str:
    return (f"# written by scripts/gpu_check.py: this machine's GPU as a local CUDA device\n"
            f"devices:\n  {name}:\n    arch: native\n    transport: local\n    toolchain: cuda-nvcc\n"
            f"    features: [cuda, {sm}, tensor-cores]\n    aliases: [gpu]\n    timeout_s: {timeout_s}\n"
            + ("" if sandbox else "    sandbox: false    # bubblewrap does not run on this machine (machine.txt)\n"))


def variant(src: Path, out_dir: Path, **defines: int) -> Path:
    """A copy of a template kernel with some #define lines changed (a point of its space)."""
    text = src.read_text()
    for k, v in defines.items():
        text, n = re.subn(rf"(?m)^#define {k} \S+", f"#define {k} {v}", text)
        if not n:
            raise ValueError(f"{src.name} has no #define {k}")
    dst = out_dir / (src.stem + "".join(f"-{k}{v}" for k, v in defines.items()) + src.suffix)
    dst.write_text(text)
    return dst


def plan(out: Path, device: str, quick: bool) -> list[Step]:
    kdir = out / "kernels"
    kdir.mkdir(exist_ok=True)
    wg = CUDA / "wgmma_f16.cu"
    wg_kmajor = variant(wg, kdir, BMN=0)
    wg_128 = variant(wg, kdir, BN=128, STAGES=6)
    d = ["--device", device, "--devices-file", str(out / "devices.yaml"), "--json"]
    quick_t = ["--max-time", "1", "--max-samples", "20"]
    steps = [
        Step("gemm f32 expert (awkward shape)", "correctness",
             ["bench", str(CUDA / "simt_f32.cu"), "--shape", "517x389x203", *quick_t, *d],
             {"simt_f32.cu": "ok"}),
        Step("gemm f16 experts (awkward shape)", "correctness",
             ["bench", str(wg), str(wg_kmajor), str(wg_128), str(CUDA / "mma_sync_f16.cu"), str(CUDA / "wmma_f16.cu"),
              "--dtype", "f16", "--shape", "517x389x203", *quick_t, *d],
             {wg.name: "ok", wg_kmajor.name: "ok", wg_128.name: "ok", "mma_sync_f16.cu": "ok", "wmma_f16.cu": "ok"},
             timeout_s=240),
        Step("conv2d expert (awkward shape)", "correctness",
             ["bench", str(CUDA / "conv2d_implicit_gemm_f32.cu"), "--op", "conv2d", "--shape", "2x13x17x19,7x3x3,s1,p1",
              *quick_t, *d], {"conv2d_implicit_gemm_f32.cu": "ok"}),
    ]
    f32_bad, f16_bad, conv_bad = [], [], []
    for p in sorted([*(CUDA / "faulty").glob("*.cu"), *(CUDA / "hostile").glob("*.cu")]):
        if p.name in ("stream_escape.cu", "honest_twin.cu", "endless.cu", "trap_large.cu"):
            continue
        src = p.read_text()
        (conv_bad if "tensorop_conv2d_f32_cuda" in src else f16_bad if "tensorop_gemm_f16_cuda" in src
         else f32_bad).append(p)
    steps += [
        Step("faulty/hostile gemm f32", "hostile",
             ["bench", *map(str, f32_bad), "--shape", "300x200x100", *quick_t, *d],
             {p.name: expected_status(p) for p in f32_bad}, timeout_s=240),
        Step("faulty/hostile gemm f16", "hostile",
             ["bench", *map(str, f16_bad), "--dtype", "f16", "--shape", "300x200x100", *quick_t, *d],
             {p.name: expected_status(p) for p in f16_bad}),
        Step("faulty/hostile conv2d", "hostile",
             ["bench", *map(str, conv_bad), "--op", "conv2d", "--shape", "1x4x9x9,4x3x3,s1,p1", *quick_t, *d],
             {p.name: expected_status(p) for p in conv_bad}),
        Step("trap on large shapes", "hostile",
             ["bench", str(CUDA / "hostile" / "trap_large.cu"), "--shape", "1024x1024x64", *quick_t, *d],
             {"trap_large.cu": "crash"}),
        Step("stream escape vs its honest twin (paired)", "hostile",
             ["bench", str(CUDA / "hostile" / "stream_escape.cu"), "--shape", "1024x1024x512", "--against",
              str(CUDA / "hostile" / "honest_twin.cu"), "--budget", "5", *d],
             {"stream_escape.cu": "ok-honest"}, clocks=True),
    ]
    budget = ["--budget", "4" if quick else "8"]
    steps += [
        Step("f16 GEMM 4096^3 vs cuBLAS", "timing",
             ["bench", str(wg), str(wg_kmajor), str(CUDA / "mma_sync_f16.cu"), "--dtype", "f16", "--shape", "4096",
              "--against", "cublas", *budget, *d], {wg.name: "ok", wg_kmajor.name: "ok", "mma_sync_f16.cu": "ok"},
             timeout_s=240, clocks=True),
        Step("f16 GEMM 8192^3 vs cuBLAS", "timing",
             ["bench", str(wg), "--dtype", "f16", "--shape", "8192", "--against", "cublas", *budget, *d],
             {wg.name: "ok"}, timeout_s=180, clocks=True),
        Step("f32 GEMM 4096^3 vs cuBLAS SGEMM", "timing",
             ["bench", str(CUDA / "simt_f32.cu"), "--shape", "4096", "--against", "cublas", *budget, *d],
             {"simt_f32.cu": "ok"}, timeout_s=180, clocks=True),
        Step("conv2d paper layers vs cuDNN", "timing",
             ["bench", str(CUDA / "conv2d_implicit_gemm_f32.cu"), "--op", "conv2d", "--suite", "paper-conv",
              "--scale", "0.0625", "--against", "cudnn", "--budget", "3", *d], {"conv2d_implicit_gemm_f32.cu": "ok"},
             timeout_s=300, clocks=True),
        Step("endless on large shapes", "hostile",
             ["bench", str(CUDA / "hostile" / "endless.cu"), "--shape", "1024x1024x64", *quick_t, *d],
             {"endless.cu": "timeout"}, timeout_s=150),
        Step("generate 4096^3 f16", "generate",
             ["generate", "Generate a 4096x4096x4096 f16 GEMM on gpu", "--tune-budget", "3", "--devices-file",
              str(out / "devices.yaml"), "--json"], {}, timeout_s=300, clocks=True),
    ]
    return steps


def run_step(step: Step, env: dict, logs: Path, remaining: float) -> StepResult:
    cmd = [sys.executable, "-m", "harness", *step.argv]
    before = clocks() if step.clocks else ""
    t0 = time.monotonic()
    timeout = max(10.0, min(step.timeout_s, remaining))
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        rc, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        stdout = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = ((e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")) + \
            f"\n[gpu_check] step timed out after {timeout:.0f} s"
    secs = time.monotonic() - t0
    slug = re.sub(r"[^a-z0-9]+", "-", step.name.lower()).strip("-")
    (logs / f"{slug}.out").write_text(stdout)
    (logs / f"{slug}.err").write_text(stderr)
    records = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    checks = []
    for kernel, want in step.expect.items():
        recs = [r for r in records if Path(str(r.get("kernel", ""))).name == kernel]
        got = sorted({str(r.get("status")) for r in recs}) or ["(no record)"]
        if want == "ok-honest":         # ok at its honest speed (paired ratio about 1), or caught
            ok = all(g in ("ok", "wrong_answer", "suspicious") for g in got) and all(
                _ratio(r) is None or _ratio(r) < 1.15 for r in recs if r.get("status") == "ok")
        else:
            ok = got == [want]
        checks.append({"kernel": kernel, "expected": want, "got": ",".join(got), "ok": ok})
    return StepResult(step.name, step.group, cmd, rc, secs, records, checks, stderr[-3000:], before,
                      clocks() if step.clocks else "")


def _ratio(rec: dict):
    p = rec.get("paired") or {}
    return p.get("ratio") if isinstance(p, dict) else None


def _figure(rec: dict) -> str:
    parts = []
    if rec.get("gflops"):
        parts.append(f"{rec['gflops'] / 1000:.1f} TFLOP/s" if rec["gflops"] > 2000 else f"{rec['gflops']:.0f} GFLOP/s")
    p = rec.get("paired")
    if isinstance(p, dict) and p.get("ratio"):
        ci = p.get("ci95") or p.get("ci") or []
        ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
        parts.append(f"{p.get('label_b') or p.get('against') or 'vs'} {p['ratio']:.3f}x{ci_s}")
    if rec.get("error") and rec.get("status") != "ok":
        parts.append(str(rec["error"])[:160].replace("|", "/"))
    return "; ".join(parts)


def summary(results: list[StepResult], gpu: str) -> str:
    lines = [f"# tensorop on {gpu}", "", "| step | kernel / shape | expected | got | figure |", "|---|---|---|---|---|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | | | skipped: {r.skipped} | |")
            continue
        shown = set()
        for c in r.checks:
            recs = [x for x in r.records if Path(str(x.get("kernel", ""))).name == c["kernel"]]
            for x in recs or [{}]:
                shape = "x".join(str(v) for v in x.get("shape", [])) if x else ""
                mark = "" if c["ok"] else " **(!)**"
                lines.append(f"| {r.name} | {c['kernel']} {shape} | {c['expected']} | {x.get('status', c['got'])}"
                             f"{mark} | {_figure(x) if x else ''} |")
                shown.add(id(x))
        for x in r.records:
            if id(x) not in shown:
                lines.append(f"| {r.name} | {Path(str(x.get('kernel', '?'))).name} | | {x.get('status')} | "
                             f"{_figure(x)} |")
        if r.rc is None:
            lines.append(f"| {r.name} | | | step timed out ({r.seconds:.0f} s) | |")
        if r.clocks_before:
            lines.append(f"| {r.name} | clocks (sm, mem, max sm, temp, power, util) | | | before {r.clocks_before}; "
                         f"after {r.clocks_after} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--deadline", type=float, default=480.0, help="seconds for all steps together")
    ap.add_argument("--group", default=",".join(GROUPS), help="comma-separated: " + ", ".join(GROUPS))
    ap.add_argument("--device-name", default=None)
    ap.add_argument("--sm", default=None)
    ap.add_argument("--timeout", type=int, default=30, help="the device's run timeout (timeout_s)")
    ap.add_argument("--quick", action="store_true", help="shorter paired budgets")
    ap.add_argument("--only", default="", help="comma-separated substrings of step names to run")
    ap.add_argument("--no-sandbox", action="store_true", help="run unconfined (only where bwrap cannot run)")
    a = ap.parse_args(argv)
    out = a.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    name, sm = detect_gpu()
    name, sm = a.device_name or name, a.sm or sm
    (out / "devices.yaml").write_text(devices_yaml(name, sm, a.timeout, not a.no_sandbox))
    (out / "nvidia-smi.txt").write_text(nvidia_smi() + "\n" + nvidia_smi("-q"))
    env = {**os.environ, "TENSOROP_DB": str(out / "tensorop.db"), "PYTHONUNBUFFERED": "1"}
    groups = set(a.group.split(","))
    start = time.monotonic()
    results: list[StepResult] = []
    with (out / "steps.jsonl").open("w") as f:
        for step in plan(out, name, a.quick):
            if step.group not in groups or (a.only and not any(o in step.name for o in a.only.split(","))):
                continue
            left = a.deadline - (time.monotonic() - start)
            if left < 15:
                r = StepResult(step.name, step.group, [], None, 0.0, [], [], skipped="deadline")
            else:
                print(f"[gpu_check] {time.monotonic() - start:5.0f} s  {step.name} ...", flush=True)
                r = run_step(step, env, out / "logs", left)
                bad = [c for c in r.checks if not c["ok"]]
                print(f"[gpu_check]   {r.seconds:.0f} s, rc {r.rc}, {len(r.records)} records"
                      + (f", UNEXPECTED: {bad}" if bad else ""), flush=True)
            results.append(r)
            f.write(json.dumps(asdict(r)) + "\n")
            f.flush()
    gen = ROOT / "generated" / name
    if gen.is_dir():
        shutil.copytree(gen, out / "generated", dirs_exist_ok=True)
    text = summary(results, f"{name} ({sm})")
    (out / "summary.md").write_text(text)
    print(text)
    failed = [c for r in results for c in r.checks if not c["ok"]]
    return 0 if not failed and all(not r.skipped for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
