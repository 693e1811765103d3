"""How repeatable is one paired comparison on this machine? (issue 9's acceptance figure)

Verifies a kernel and OpenBLAS once (the correctness gate), then repeats the same paired,
interleaved comparison (harness.measure.compare.paired) N times and prints each ratio with its 95% CI,
the spread of the ratios around their median, and whether each CI covers the other runs' ratios.

    .venv/bin/python benchmarks/paired_repeatability.py [--kernel F] [--shape 1024] [--runs 5] [--budget 30]

Run it alone: other load on the box shows up as noise (that is what it measures).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.measure import compare as objective  # noqa: E402
from harness.backends import baseline_kernel  # noqa: E402
from harness.config.lab import Lab  # noqa: E402
from harness.core.measure_options import MeasureOptions  # noqa: E402
from harness.ops import gemm  # noqa: E402
from harness.transport import get_transport  # noqa: E402
from harness.measure.runner import Kernel, run_trial  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default=str(ROOT / "kernels" / "examples" / "gemm_avx512.c"))
    ap.add_argument("--shape", default="1024")
    ap.add_argument("--device", default="host")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--budget", type=float, default=30.0, help="seconds of paired timing per run")
    ap.add_argument("--target", type=float, default=0.02)
    a = ap.parse_args()
    lab = Lab.load()
    dev = lab.device(a.device)
    shape = gemm.parse_shape(a.shape)
    k = Kernel.from_file(Path(a.kernel))
    ob = baseline_kernel(lab.ws, "openblas", dev.arch)
    tc = lab.toolchain(dev)
    rows = []
    with get_transport(dev, lab.ws) as t:
        for kern in (k, ob):
            tr = run_trial(lab.ws, dev, tc, t, kern, shape, MeasureOptions.for_device(dev, max_time_s=1.0))
            print(f"gate: {kern.label}: {tr.status}" + (f" ({tr.error})" if tr.error else ""), flush=True)
            if tr.status.value != "ok":
                return 1
        for i in range(a.runs):
            t0 = time.monotonic()
            run = objective.paired(lab.ws, dev, tc, t, k, ob, shape, target=a.target, budget_s=a.budget)
            r = run.ratio
            if r is None or r.ci95 is None:
                print(f"run {i + 1}: {run.status} {run.error}")
                return 1
            rows.append(r)
            print(f"run {i + 1}: {k.label} vs openblas {r.ratio:.4f} [{r.ci95[0]:.4f}, {r.ci95[1]:.4f}] "
                  f"p={r.p_value:.2g} pairs={r.n} half-width {100 * (r.ci95[1] - r.ci95[0]) / 2 / r.ratio:.2f}% "
                  f"({time.monotonic() - t0:.0f} s){'  ' + r.note if r.note else ''}", flush=True)
    med = statistics.median(x.ratio for x in rows)
    spread = [100 * (x.ratio / med - 1) for x in rows]
    covers = [sum(1 for y in rows if y is not x and x.ci95[0] <= y.ratio <= x.ci95[1]) for x in rows]
    print(f"\n{a.runs} paired comparisons of {k.label} vs OpenBLAS at {'x'.join(map(str, shape))} on {dev.name}:")
    print(f"  ratios {', '.join(f'{x.ratio:.3f}' for x in rows)}; median {med:.3f}")
    print(f"  spread around the median: {min(spread):+.1f}% .. {max(spread):+.1f}%")
    print(f"  each CI covers how many of the other {a.runs - 1} ratios: {covers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
