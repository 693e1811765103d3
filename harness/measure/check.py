"""The correctness gate and the reading of what a run reports: the one home every caller uses
(trial, device check, generate, tuning).

- `run_failure(run, device, phase)`: how a run that did not finish cleanly is classified
  (timeout, crash with its signal, device trouble), blaming the right party.
- `read_channel(run, want_plugin)`: the private result channel (fd 3), parsed strictly: exactly
  one driver record (and one plugin record when the QEMU plugin ran); anything else is a
  forged or broken record and the trial is `rejected`.
- `gate(...)`: the correctness gate (docs/ARCHITECTURE.md): fresh seeds, the requested shape tight and
  padded, awkward and tiny shapes, NaN-poisoned outputs, compared with the float64 reference; then
  each case called again on the same buffers with a few inputs changed (the reuse check).
- `timed_verdict(...)`: the verdict on the timed calls (every call verified in the driver by a
  Freivalds projection, one sample chosen by the harness checked in full here).
"""
from __future__ import annotations


from harness.config.devices import Device
from harness.ops import Op, default_op
from harness.core.records import Artifact, CheckResult, RunResult, Status
from harness.transport.base import Transport
from harness.core.channel import read_channel, worker_crash
from harness.backends import backend_for


REUSE = ("a second call on the same buffers (a few input elements changed, the previous result left in C, "
         "as a user's program does)")


def _tail(text: str, limit: int = 400) -> str:
    return text.strip()[-limit:]


def run_failure(run: RunResult, device: Device, phase: str) -> tuple[Status, str] | None:
    """Classify a run that did not succeed; None if it exited 0. A kernel that exits or is
    killed while it runs is a crash (its fault); only transport trouble is a device error."""
    if run.device_error:
        return Status.DEVICE_ERROR, run.device_error
    if run.timed_out:
        return Status.TIMEOUT, f"{phase}: killed after {run.wall_s:.1f} s (time limit on {device.name})"
    if run.signal:
        tail = _tail(run.stderr)
        return Status.CRASH, f"{phase}: killed by {run.signal}" + (f"; stderr: {tail}" if tail else "")
    if run.returncode != 0:
        special = backend_for(device).classify_failure(run, device, phase)
        if special:
            return special
        tail = _tail(run.stderr)
        if run.returncode == 127 and "error while loading shared libraries" in run.stderr:
            return Status.DEVICE_ERROR, f"{phase}: {device.name} lacks a shared library the run needs: {tail}"
        if run.returncode == 127 and "not found" in run.stderr.lower() and phase == "check":
            return Status.DEVICE_ERROR, f"{phase}: cannot run on {device.name}: {tail}"
        if run.returncode == 5 and "no result channel" in run.stderr:
            return Status.INTERNAL_ERROR, f"{phase}: the transport gave the driver no result channel"
        return Status.CRASH, f"{phase}: exited with status {run.returncode}" + (f"; stderr: {tail}" if tail else "")
    return None


def gate(transport: Transport, artifact: Artifact, device: Device, shape: tuple[int, ...],
         seeds: list[int], timeout_s: float, op: Op | None = None
         ) -> tuple[CheckResult, RunResult | None, Status | None]:
    """Run the correctness gate. Returns (result, run, failure status): the status is set when
    the check run itself failed (crash, timeout, device) or broke the channel protocol."""
    op = op or default_op()
    cases = op.check_cases(shape, seeds)
    # the reuse check's calls are verified in the driver, with the timed calls' tolerance
    tol = max(op.timing_tolerance(c) for c in cases)
    run = transport.run(artifact, [], timeout_s=timeout_s,
                        stdin=op.request("check", cases, threads=device.threads_allowed, tol=tol),
                        fetch=[f"c{i}.bin" for i in range(len(cases))])
    failure = run_failure(run, device, "check")
    if failure:
        return CheckResult(False, None, failure[1], len(cases)), run, failure[0]
    recs = read_channel(run, want_plugin=False)
    if recs.error:
        return CheckResult(False, None, f"check: {recs.error}", len(cases)), run, Status.REJECTED
    crashed = worker_crash(recs.driver, "check")
    if crashed:
        return CheckResult(False, None, crashed, len(cases)), run, Status.CRASH
    reuse_failed = recs.driver.get("verified") is False     # the reuse check of a case failed
    f = recs.driver.get("failed") if reuse_failed and isinstance(recs.driver.get("failed"), dict) else {}
    if not reuse_failed and (recs.driver.get("mode") != "check" or recs.driver.get("cases") != len(cases)):
        return CheckResult(False, None, "check: the driver's record does not match the request", len(cases)), \
            run, Status.REJECTED
    # the first calls' outputs first (the full check says most about a wrong kernel): every case's,
    # or those written before the case whose reuse check failed
    checked = len(cases) if not reuse_failed else min(len(cases), int(f.get("call") or 0) + 1)
    worst = 0.0
    for i, case in enumerate(cases[:checked]):
        raw = run.files.get(f"c{i}.bin")
        if raw is None:
            return CheckResult(False, None, f"check: output c{i}.bin did not come back as a regular file",
                               len(cases)), run, Status.REJECTED
        v = op.verify(case, raw)
        worst = max(worst, v.rel_err)
        if not v.ok:
            return CheckResult(False, v.rel_err, v.detail, len(cases)), run, None
    if reuse_failed:
        rel = f.get("rel_err") if isinstance(f.get("rel_err"), (int, float)) else None
        return CheckResult(False, rel, f"check: case {f.get('call')}: {REUSE} was wrong: {f.get('why')}; a kernel "
                                       "must not keep results across calls", len(cases)), run, Status.WRONG_ANSWER
    return CheckResult(True, worst, "", len(cases)), run, None


def timed_verdict(rec: dict, case, pick_raw: bytes | None, profile: bool = False, op: Op | None = None) -> CheckResult:
    """The verdict on a timing (or profile) run's calls: the driver's per-call verification,
    then the harness's full check of the sample it chose."""
    op = op or default_op()
    calls = int(rec.get("calls") or 0)
    if rec.get("verified") is not True:
        f = rec.get("failed") or {}
        sample, call = f.get("sample"), f.get("call")
        where = ("a warm-up call" if sample == -1 else REUSE if sample == -2
                 else f"timed call {call} of sample {sample}")
        return CheckResult(False, f.get("rel_err"), f"{where} (seed {f.get('seed')}) was wrong: {f.get('why')}; "
                                                     "results must not depend on being checked", calls)
    pick = rec.get("pick") or {}
    if pick_raw is None or "seed" not in pick:
        return CheckResult(False, None, "the chosen sample's output did not come back", calls)
    sample = int(pick.get("sample", -1))
    # a timed sample's seeds are drawn fresh by the driver (the kernel's process cannot predict
    # them) and reported here; a profiled call uses the request's own case
    seed = op.case_seed(case) if profile else int(pick["seed"])
    if sample < 0 or (profile and int(pick["seed"]) != seed):
        return CheckResult(False, None, f"the record names sample {sample} with seed {pick['seed']}, not the "
                                        "inputs the driver was asked to use", calls)
    v = op.verify(op.sample_case(case, seed), pick_raw)
    if not v.ok:
        return CheckResult(False, v.rel_err, f"sample {pick.get('sample')} of the timed run: {v.detail}", calls)
    return CheckResult(True, v.rel_err, "", calls)
