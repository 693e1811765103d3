"""Compile every valid point of the CUDA expert templates (harness/generate/templates/cuda.py) for sm_80
and sm_90a, with the object gate and the compile-only report: a point must build, pass the gate,
keep its tensor-core instructions (f16: HMMA in the SASS) or its FFMA-only f32 code, and not spill.
No GPU needed. The suite checks the default and the highest-prior points (tests/test_cuda_run.py);
this checks them all (84 builds with the fixed files, about 1 min on 2 cores).

    .venv/bin/python benchmarks/cuda_template_points.py [--sm sm_90a ...]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config.devices import Device  # noqa: E402
from harness.config.toolchains import load_toolchains  # noqa: E402
from harness.generate.templates import cuda as templates  # noqa: E402
from harness.backends.cuda.build import build_cuda  # noqa: E402
from harness.generate.cuda import EXPERT  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sm", action="append", default=None, help="SMs to build for (default: sm_80 and sm_90a)")
    args = ap.parse_args()
    tc = load_toolchains(ROOT / "toolchains")["cuda-nvcc"]
    files = sorted({f for cands in EXPERT.values() for f, _ in cands})
    jobs = [(f, p, sm) for f in files for p in templates.points(f) for sm in (args.sm or ["sm_80", "sm_90a"])]
    bad = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        def one(job):
            f, p, sm = job
            dev = Device(name=f"gpu-{sm}", arch="x86_64", transport="local", toolchain="cuda-nvcc",
                         features=("cuda", sm, "tensor-cores"))
            return job, build_cuda(templates.render(f, p).encode(), f, dev, tc, Path(tmp), link=False)

        with ThreadPoolExecutor(max_workers=2) as pool:
            for (f, p, sm), b in pool.map(one, jobs):
                why = ""
                if not b.ok:
                    why = b.result.error
                elif b.dtype == "f16" and b.report.tensor_instructions == 0:
                    why = "no tensor-core instructions"
                elif b.dtype == "f32" and b.report.tensor_instructions:
                    why = "tensor-core instructions in an f32 kernel"
                elif any(fn.spill_stores for fn in b.report.functions):
                    why = "spills"
                bad += bool(why)
                regs = max((fn.registers for fn in b.report.functions), default=0) if b.report else 0
                print(f"{'FAIL' if why else 'ok  '} {sm:7} {templates.label(f, p):48} regs {regs:3} {why}")
    print(f"{len(jobs) - bad}/{len(jobs)} points ok in {time.monotonic() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
