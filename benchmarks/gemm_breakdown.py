"""Where the expert's CPU GEMM loses against the FMA peak (issue 22, part 4): renders the expert
generator's kernel at a point, builds benchmarks/gemm_breakdown.c around it with the host
toolchain's flags, and prints the whole call, its packing alone, its micro-kernel alone on cached
panels and on one block's real panels, each beside the measured single-core FMA peak
(benchmarks/roofline_micro.c). Unpaired and pinned to one core: run it alone on the box.

    .venv/bin/python benchmarks/gemm_breakdown.py [--n 1024] [--set avx512] [--point MR=14,NV=2,KC=384,...]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.generate.templates import cpu_gemm  # noqa: E402

DEFAULT = {"MR": 14, "NV": 2, "LMUL": 1, "KC": 384, "MC": 112, "NC": 2048, "U": 4, "SM": 16, "PF": 2}
CFLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-strict-aliasing"]


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--set", default="avx512", help="the primitive set (cpu_gemm.SETS)")
    ap.add_argument("--point", default="", help="parameters over the default, e.g. KC=512,MC=112")
    a = ap.parse_args()
    point = {**DEFAULT, **{k: int(v) for k, v in (kv.split("=") for kv in a.point.split(",") if kv)}}
    pin = ["taskset", "-c", str(max(os.sched_getaffinity(0)))]
    with tempfile.TemporaryDirectory(prefix="breakdown-") as d:
        kernel, exe, roof = Path(d) / "kernel.c", Path(d) / "breakdown", Path(d) / "roofline"
        kernel.write_text(cpu_gemm.render(a.set, point))
        run(["cc", *CFLAGS, f"-DKERNEL_FILE=\"{kernel}\"", str(ROOT / "benchmarks" / "gemm_breakdown.c"), "-o", str(exe)])
        run(["cc", *CFLAGS, str(ROOT / "benchmarks" / "roofline_micro.c"), "-o", str(roof)])
        peak = json.loads(run([*pin, str(roof)]).strip().splitlines()[-1])["peak_gflops"]
        print(f"{a.set} {point}\nmeasured FMA peak {peak:.1f} GFLOP/s (1 core)")
        for line in run([*pin, str(exe), str(a.n)]).splitlines():
            gf = re.search(r"([\d.]+) GFLOP/s", line)
            print(line + (f"   [{float(gf.group(1)) / peak:.0%} of peak]" if gf else ""))


if __name__ == "__main__":
    main()
