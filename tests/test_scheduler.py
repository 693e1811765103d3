"""The campaign scheduler (harness/campaign/scheduler.py) with fake transports registered in the
transport registry: the order of results, quarantine after consecutive device errors, a device's
lanes over a pool of boards, a lane that cannot get a board, and Campaign.compare's choice of the
one objective on an emulated device. The kernels are built for real (host-cc); nothing runs."""
from __future__ import annotations

import threading
import time

import pytest

from harness.campaign.scheduler import Campaign, Job
from harness.campaign.store import Store
from harness.config import transports
from harness.config.lab import Lab
from harness.core.records import Kernel, RunResult, Status, Trial
from harness.transport.base import Transport

KERNEL = b"""void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc)
{ for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) { float s = 0;
  for (int k = 0; k < K; k++) s += A[i * lda + k] * B[k * ldb + j]; C[i * ldc + j] = s; } }
"""


class Broken(Transport):
    """A device that never runs anything: every run is a device error."""
    kind = "broken"
    runs = 0

    def run(self, artifact, args, *, timeout_s, fetch=(), stdin=b"", plugin=None) -> RunResult:
        type(self).runs += 1
        return RunResult(None, "", "", 0.0, device_error=f"{self.device.name}: the board is gone")

    def run_command(self, argv, *, timeout_s) -> RunResult:
        return self.run(None, [], timeout_s=timeout_s)


class Pool(Broken):
    """Two boards in a pool (as a labgrid lab): one lane per board; each run notes which it held."""
    kind = "pool"
    pooled = True
    held: list = []
    lock = threading.Lock()

    @classmethod
    def lanes(cls, device, ws) -> int:
        return 2

    def run(self, artifact, args, *, timeout_s, fetch=(), stdin=b"", plugin=None) -> RunResult:
        time.sleep(0.2)           # a board is busy a while: the other lane takes the next trial
        return super().run(artifact, args, timeout_s=timeout_s, fetch=fetch, stdin=stdin, plugin=plugin)

    def open(self) -> None:
        if self.place is None:
            with Pool.lock:
                taken = {t.place for t in Pool.held if t.place}
                self.place = next(p for p in ("b1", "b2") if p not in taken)
                self.board = {"place": self.place}
                Pool.held.append(self)

    def close(self) -> None:
        with Pool.lock:
            if self in Pool.held:
                Pool.held.remove(self)
        self.place, self.board = None, {}


class Empty(Pool):
    """A pool whose boards are all taken: open() always fails."""
    kind = "empty"

    def open(self) -> None:
        raise RuntimeError(f"{self.device.name}: no free board within 0 s")


@pytest.fixture
def farm(workspace, monkeypatch):
    for name, cls in (("broken", Broken), ("pool", Pool), ("empty", Empty)):
        monkeypatch.setitem(transports.REGISTRY, name, cls)
    text = "devices:\n  host:\n    arch: native\n    toolchain: host-cc\n"
    for name, t, q in (("gone", "broken", 2), ("lab", "pool", 10), ("busy", "empty", 2)):
        text += f"  {name}:\n    arch: native\n    transport: {t}\n    toolchain: host-cc\n    quarantine_after: {q}\n"
    text += "  emu:\n    arch: native\n    transport: broken\n    toolchain: host-cc\n    emulated: true\n"
    (workspace.root / "devices.yaml").write_text(text)
    Broken.runs = 0
    return Lab.load(workspace)


def _jobs(device: str, n: int) -> list[Job]:
    return [Job(Kernel(f"k{i}", KERNEL + f"/* {i} */\n".encode()), device, (4, 4, 4)) for i in range(n)]


def test_results_come_back_in_job_order_and_are_stored(farm):
    with Store(farm.ws.database) as store, Campaign(farm, store) as c:
        trials = c.run(_jobs("gone", 2) + _jobs("lab", 3))
        stored = list(store.trials(campaign=c.id))
    assert [t.kernel for t in trials] == ["k0", "k1", "k0", "k1", "k2"]
    assert len(stored) == 5 and all(t.status is Status.DEVICE_ERROR for t in trials)


def test_a_device_is_quarantined_after_consecutive_device_errors(farm):
    events = []
    with Store(farm.ws.database) as store, Campaign(farm, store, on_event=lambda d, t: events.append((d, t))) as c:
        trials = c.run(_jobs("gone", 5))
        later = c.run(_jobs("gone", 1))      # the state lasts for the campaign's life
    assert Broken.runs == 2                  # quarantine_after: 2; the rest never reach the device
    assert [t.error.startswith("quarantined: gone failed 2 trials in a row") for t in trials] == \
        [False, False, True, True, True]
    assert later[0].error.startswith("quarantined")
    assert ("gone", "quarantined after 2 consecutive device errors") in events
    assert all(t.error.count("gone:") <= 1 for t in trials), [t.error for t in trials]


def test_a_pooled_device_spreads_over_its_boards(farm):
    with Store(farm.ws.database) as store, Campaign(farm, store) as c:
        trials = c.run(_jobs("lab", 4))
    places = [t.meta.get("board", {}).get("place") for t in trials]
    assert set(places) == {"b1", "b2"}, places          # two lanes, one board each
    assert not Pool.held                                 # every board given back


def test_a_lane_without_a_board_records_why_once(farm):
    with Store(farm.ws.database) as store, Campaign(farm, store) as c:
        trials = c.run(_jobs("busy", 1))
    t = trials[0]
    assert t.status is Status.DEVICE_ERROR and t.error.startswith("busy: ") and t.error.count("busy") == 1, t.error


def test_compare_uses_modelled_cycles_on_an_emulated_device(farm):
    a, b = Kernel("a", KERNEL), Kernel("b", KERNEL + b"\n")
    ta = Trial(device="emu", op="gemm", shape=(4, 4, 4), dtype="f32", kernel="a", source_hash=a.hash,
               status=Status.OK, emulated=True, cycles=1000.0)
    tb = Trial(device="emu", op="gemm", shape=(4, 4, 4), dtype="f32", kernel="b", source_hash=b.hash,
               status=Status.OK, emulated=True, cycles=1500.0)
    with Store(farm.ws.database) as store, Campaign(farm, store) as c:
        cmp = c.compare("emu", a, b, (4, 4, 4), trials=(ta, tb))
        failed = c.compare("emu", a, b, (4, 4, 4), trials=(ta, Trial(**{**tb.__dict__, "status": Status.CRASH})))
    assert Broken.runs == 0                                           # nothing ran: cycles are given
    assert cmp.status is Status.OK and cmp.ratio.metric == "modelled_cycles" and cmp.ratio.ratio == 1.5
    assert failed.ratio is None and "b is crash" in failed.error
