"""Is the cycle model right where real hardware exists (`tensorop model validate`)? Each kernel
is built once with the x86-qemu device's toolchain (AVX2/FMA, Haswell class), timed natively on `host` (harness.measure.runner.run_trial) and modelled on
`x86-qemu` (the same binary under qemu-x86_64 with the tensorop plugin, then llvm-mca).
`openblas` as a kernel name is the OpenBLAS baseline with OPENBLAS_CORETYPE=Haswell.

Prints measured time, modelled cycles, the implied clock (cycles / measured seconds), the
Spearman rank correlation over kernels, the spread of the ratio error (each kernel's implied
clock over the median implied clock), and any pair that differs by more than 1.3x in measured
speed that the model orders the other way.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

from scipy.stats import spearmanr

from harness.backends import BaselineUnavailable
from harness.backends.cpu.baselines import NAMES, baseline_kernel
from harness.campaign.scheduler import Campaign, Job, new_campaign_id
from harness.campaign.store import Store
from harness.core.records import Kernel, Status
from harness.ops import gemm

MISORDER_FACTOR = 1.3       # issue 20's target: no misordered pair further apart than this


def _kernel(ws, name: str, arch: str):
    if name in NAMES and not Path(name).exists():
        return baseline_kernel(ws, name, arch)
    p = Path(name)
    if not p.is_file():
        raise BaselineUnavailable(f"{name}: no such file")
    return Kernel.from_file(p, label=p.stem)


def validate_kernels(lab, names: list[str], shape: tuple[int, int, int], *, host: str = "host",
                     emulated: str = "x86-qemu", max_time_s: float | None = None,
                     paired_s: float = 0.0, repeats: int = 1) -> list[dict]:
    """One record per kernel: kernel, status, measured_s, cycles, implied_ghz, insns, model,
    coverage, error. Failures are records, never exceptions. Every trial goes through one campaign
    (stored in the results database).
    paired_s > 0: each kernel is also timed paired and interleaved with OpenBLAS (that many seconds
    each), and measured_s becomes OpenBLAS's median time / the paired ratio: every kernel in one
    unit, robust to the machine's speed drifting between kernels (the unpaired median stays in
    measured_unpaired_s). repeats > 1: the paired comparison runs that many times, each in a fresh
    driver process (fresh buffers, so fresh physical pages: a kernel whose column walks conflict
    in the physically indexed L2 runs up to 1.5x apart from one process to the next), and the
    median ratio counts."""
    hdev, edev = lab.device(host), lab.device(emulated)
    tc = lab.toolchain(edev)
    # the host runs the very binary that is modelled (the emulated device's toolchain), with the
    # emulated device's OpenBLAS core type
    hdev = replace(hdev, toolchain=edev.toolchain,
                   env={**hdev.env, **{k: v for k, v in edev.env.items() if k.startswith("OPENBLAS_")}})
    vlab = replace(lab, devices={**lab.devices, hdev.name: hdev})
    rows = []
    ob = None       # (OpenBLAS's kernel, its median time on the host): the unit of paired measurements
    with Store(lab.ws.database) as store, Campaign(vlab, store, campaign="model-validate-" + new_campaign_id()) as c:
        for name in names:
            row = {"kernel": name, "status": "device_error", "measured_s": None, "cycles": None,
                   "implied_ghz": None, "insns": None, "model": edev.core_model, "coverage": None,
                   "shape": list(shape), "error": ""}
            rows.append(row)
            try:
                k = _kernel(lab.ws, name, edev.arch)
            except BaselineUnavailable as e:
                row["error"] = str(e)
                continue
            if tc is None:
                row["error"] = f"toolchain {edev.toolchain!r} not defined"
                continue
            trial = c.run([Job(k, hdev.name, shape)], overrides={"max_time_s": max_time_s})[0]
            row["status"] = str(trial.status)
            if trial.status is not Status.OK or not trial.summary:
                row["error"] = trial.error
                continue
            row["measured_s"] = trial.summary.median
            row["measured_ci95"] = [trial.summary.ci_lo, trial.summary.ci_hi]
            if paired_s > 0:
                if ob is None:     # OpenBLAS's own trial is the unit when it is in the list: not run twice
                    ob = (k, row["measured_s"]) if name == "openblas" else \
                        _openblas_reference(c, lab, hdev.name, edev.arch, shape, max_time_s)
                if name == "openblas":
                    row.update(measured_unpaired_s=row["measured_s"], measured_s=ob[1], vs_openblas=1.0)
                elif ob[1] is not None:
                    ratios, failed = [], None
                    for _ in range(max(1, repeats)):
                        cmp = c.compare(hdev.name, k, ob[0], shape, budget_s=paired_s)
                        if cmp.ratio is None:
                            failed = cmp
                            break
                        ratios.append(cmp.ratio.ratio)
                    if failed is not None:
                        row["status"], row["error"] = str(failed.status), f"paired with OpenBLAS: {failed.error}"
                        continue
                    ratio = statistics.median(ratios)
                    row.update(measured_unpaired_s=row["measured_s"], measured_s=ob[1] / ratio,
                               vs_openblas=ratio, vs_openblas_runs=ratios)
            et = c.run([Job(k, edev.name, shape)])[0]       # the same binary, one profiled call under QEMU
            if et.status is not Status.OK or not et.cycles:
                row["status"] = "model_error" if et.status is Status.DEVICE_ERROR else str(et.status)
                row["error"] = et.error or "no modelled cycles"
                continue
            m = et.meta.get("model") or {}
            row.update(cycles=et.cycles, insns=et.insns, model=et.model, coverage=m.get("coverage"),
                       **{k: m[k] for k in ("core_cycles", "memory_cycles", "bound", "misses") if k in m},
                       implied_ghz=et.cycles / row["measured_s"] / 1e9,
                       modelled_gflops=et.gflops, measured_gflops=gemm.flops(shape) / row["measured_s"] / 1e9)
    return rows


def _openblas_reference(c, lab, host: str, arch: str, shape, max_time_s) -> tuple:
    """(OpenBLAS kernel, its median time on the host), the unit of paired measurements."""
    k = baseline_kernel(lab.ws, "openblas", arch)
    t = c.run([Job(k, host, shape)], overrides={"max_time_s": max_time_s})[0]
    return k, (t.summary.median if t.status is Status.OK and t.summary else None)


def summarize(rows: list[dict]) -> dict:
    """Spearman rho of measured time vs modelled cycles, the ratio-error spread, misordered pairs."""
    ok = [r for r in rows if r.get("cycles") and r.get("measured_s")]
    res = {"n": len(ok), "spearman_rho": None, "spearman_p": None, "median_implied_ghz": None,
           "ratio_error_min": None, "ratio_error_max": None, "misordered": []}
    if len(ok) < 2:
        return res
    rho, p = spearmanr([r["measured_s"] for r in ok], [r["cycles"] for r in ok])
    med = statistics.median(r["implied_ghz"] for r in ok)
    errs = [r["implied_ghz"] / med - 1 for r in ok]
    res.update(spearman_rho=float(rho), spearman_p=float(p), median_implied_ghz=med,
               ratio_error_min=min(errs), ratio_error_max=max(errs))
    for a in ok:
        for b in ok:
            if a["measured_s"] * MISORDER_FACTOR < b["measured_s"] and a["cycles"] >= b["cycles"]:
                res["misordered"].append([a["kernel"], b["kernel"]])
    return res


