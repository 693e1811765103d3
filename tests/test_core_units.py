"""Unit tests of the pure core, no kernel run: the result channel's parser, the classification of
a failed run, the verdict on timed calls, the physical-limit check, and the text helpers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.backends.cpu import peak
from harness.config.devices import Device
from harness.core.channel import read_channel, worker_crash
from harness.core.records import RunResult, Status, Trial
from harness.core.text import prefixed, shorten, without_prefix
from harness.measure.check import run_failure, timed_verdict
from harness.ops import gemm, get_op

DEV = Device(name="d", arch="x86_64", features=("avx512f",), transport="ssh", host="h")


def _run(channel: bytes = b"", rc: int | None = 0, **kw) -> RunResult:
    return RunResult(rc, kw.pop("stdout", ""), kw.pop("stderr", ""), kw.pop("wall_s", 0.1), channel=channel, **kw)


# ---- the channel --------------------------------------------------------------------------------
def test_channel_takes_exactly_one_driver_record():
    rec = {"tensorop": "driver", "mode": "check", "cases": 3}
    r = read_channel(_run(json.dumps(rec).encode() + b"\n\n"), want_plugin=False)
    assert r.error == "" and r.driver == rec and r.plugin is None


@pytest.mark.parametrize("channel,why", [
    (b"", "wrote no result record"),
    (b'{"tensorop":"driver"}\n{"tensorop":"driver"}\n', "line 2: unexpected or repeated record"),
    (b'{"tensorop":"driver"}\nnot json\n', "line 2 is not a JSON record"),
    (b'{"tensorop":"kernel"}\n', "line 1: unexpected or repeated record"),
    (b'[1, 2]\n', "line 1: unexpected or repeated record"),
    (b'\xff\xfe{}', "bytes that are not text"),
    (b'{"tensorop":"driver","rel_err":inf}\n', "line 1 is not a JSON record"),
])
def test_channel_protocol_breaks_are_named(channel, why):
    r = read_channel(_run(channel), want_plugin=False)
    assert why in r.error, r.error


def test_channel_plugin_record_only_when_the_plugin_ran():
    both = b'{"tensorop":"driver"}\n{"tensorop":"plugin","insns":5}\n'
    assert read_channel(_run(both), want_plugin=True).plugin == {"tensorop": "plugin", "insns": 5}
    assert "unexpected" in read_channel(_run(both), want_plugin=False).error     # a kernel may not add one
    assert "plugin wrote no record" in read_channel(_run(b'{"tensorop":"driver"}\n'), want_plugin=True).error


def test_worker_crash_names_the_signal_and_the_seccomp_filter():
    assert worker_crash({"tensorop": "driver"}, "timing run") == ""
    assert "SIGSEGV" in worker_crash({"crash": {"signal": 11}}, "timing run")
    assert "seccomp" in worker_crash({"crash": {"signal": 31}}, "timing run")      # SIGSYS
    assert "status 3" in worker_crash({"crash": {"exit": 3}}, "timing run")
    assert "signal 99" in worker_crash({"crash": {"signal": 99}}, "x")


# ---- a failed run --------------------------------------------------------------------------------
@pytest.mark.parametrize("run,status,words", [
    (_run(device_error="d: unreachable", rc=None), Status.DEVICE_ERROR, "unreachable"),
    (_run(rc=None, timed_out=True, wall_s=12.0), Status.TIMEOUT, "killed after 12.0 s"),
    (_run(rc=-11, signal="SIGSEGV", stderr="boom"), Status.CRASH, "SIGSEGV; stderr: boom"),
    (_run(rc=3, stderr="x"), Status.CRASH, "exited with status 3"),
    (_run(rc=127, stderr="./driver: error while loading shared libraries: libfoo.so"), Status.DEVICE_ERROR,
     "lacks a shared library"),
    (_run(rc=5, stderr="tensorop driver: no result channel on fd 3"), Status.INTERNAL_ERROR, "no result channel"),
])
def test_run_failure_blames_the_right_party(run, status, words):
    st, msg = run_failure(run, DEV, "check")
    assert st is status and words in msg, msg


def test_a_clean_run_is_no_failure():
    assert run_failure(_run(rc=0), DEV, "check") is None


# ---- the verdict on timed calls ---------------------------------------------------------------------
def _output(case: gemm.GemmCase, wrong: bool = False) -> bytes:
    C = np.full((case.M, case.ldc), np.nan, dtype=np.float32)
    C.view(np.uint32)[:] = 0x7FC0DEAD
    ref = gemm.reference(case).astype(np.float32)
    if wrong:
        ref[1, 2] += 1.0
    C[:, :case.N] = ref
    return C.tobytes()


def test_timed_verdict_checks_the_picked_sample_in_full():
    op = get_op("gemm", "f32")
    case = gemm.GemmCase.tight(9, 7, 5, 1)
    rec = {"verified": True, "calls": 4, "pick": {"sample": 2, "seed": 1234}}
    picked = op.sample_case(case, 1234)
    ok = timed_verdict(rec, case, _output(picked), op=op)
    assert ok.ok and ok.max_rel_err < 1e-6
    bad = timed_verdict(rec, case, _output(picked, wrong=True), op=op)
    assert not bad.ok and "sample 2 of the timed run" in bad.detail
    assert "did not come back" in timed_verdict(rec, case, None, op=op).detail


def test_timed_verdict_names_the_failed_call():
    rec = {"verified": False, "failed": {"sample": 3, "call": 1, "seed": 9, "rel_err": None, "why": "wrong"}}
    v = timed_verdict(rec, gemm.GemmCase.tight(4, 4, 4, 1), b"", op=get_op("gemm", "f32"))
    assert not v.ok and "timed call 1 of sample 3 (seed 9) was wrong" in v.detail
    warm = timed_verdict({"verified": False, "failed": {"sample": -1, "call": 0}}, gemm.GemmCase.tight(4, 4, 4, 1),
                         b"", op=get_op("gemm", "f32"))
    assert "a warm-up call" in warm.detail


def test_a_profile_must_use_the_requested_inputs():
    op = get_op("gemm", "f32")
    case = gemm.GemmCase.tight(9, 7, 5, 77)
    rec = {"verified": True, "calls": 1, "pick": {"sample": 0, "seed": 78}}
    v = timed_verdict(rec, case, _output(case), profile=True, op=op)
    assert not v.ok and "not the inputs the driver was asked to use" in v.detail
    rec["pick"]["seed"] = 77
    assert timed_verdict(rec, case, _output(case), profile=True, op=op).ok


# ---- physical limits --------------------------------------------------------------------------------
def _trial(**kw) -> Trial:
    base = dict(device="d", op="gemm", shape=(1024, 1024, 1024), dtype="f32", kernel="k", source_hash="x",
                status=Status.OK)
    return Trial(**{**base, **kw})


def test_peak_check_of_a_real_cpu():
    dev = Device(name="d", arch="x86_64", features=("avx512f",), transport="ssh", host="h", threads=2)
    assert peak.vector_bits(dev) == 512 and peak.flops_per_cycle(dev) == 64
    ceiling = 2 * 64 * peak.CLOCK_CEILING_GHZ
    assert peak.peak_gflops(dev) == pytest.approx(ceiling)
    assert peak.peak_check(dev, _trial(gflops=0.99 * ceiling)) == ""
    why = peak.peak_check(dev, _trial(gflops=1.01 * ceiling))
    assert "beyond d's physical peak" in why and "2 core(s)" in why
    given = Device(name="g", arch="x86_64", features=("avx512f",), transport="ssh", host="h")
    object.__setattr__(given, "peak_gflops", 50.0)
    assert "beyond" in peak.peak_check(given, _trial(gflops=60.0))


def test_peak_check_of_modelled_cycles():
    dev = Device(name="e", arch="riscv64", emulated=True, features=("rvv1.0", "vlen256"))
    assert dev.declared_vector_bits == 256 and peak.flops_per_cycle(dev) == 32
    flops = 2 * 1024 ** 3
    assert peak.peak_check(dev, _trial(emulated=True, cycles=flops / 100)) == ""      # 100 FLOP/cycle <= 4 x 32
    assert "not a believable figure" in peak.peak_check(dev, _trial(emulated=True, cycles=flops / 200))


def test_low_precision_ceiling_follows_the_features():
    amx = Device(name="a", arch="x86_64", features=("avx512f", "amx_bf16", "amx_int8"), transport="ssh", host="h")
    assert peak.dtype_factor(amx, "bf16") == 16 and peak.dtype_factor(amx, "i8") == 32
    plain = Device(name="p", arch="aarch64", features=("neon",), transport="ssh", host="h")
    assert peak.dtype_factor(plain, "i8") == 8 and peak.dtype_factor(plain, "f32") == 1


# ---- text ------------------------------------------------------------------------------------------
def test_messages_name_a_device_once_and_never_cut_a_word():
    assert prefixed("lab", "lab: unknown host key") == "lab: unknown host key"
    assert prefixed("lab", "place p: x") == "lab: place p: x"
    assert without_prefix("lab: lab: x", "lab") == "lab: x"
    s = shorten("unknown host key for 127.0.0.1 presented by the board", 30)
    assert len(s) <= 30 and s.endswith("…") and not s[:-1].endswith(("unkn", "pres"))
    assert shorten("short", 30) == "short" and shorten("a\nb", 10) == "a b"
    assert math.isfinite(len(shorten("x" * 100, 10)))
