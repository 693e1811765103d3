"""The LLM generator against a real OpenAI-compatible HTTP server on loopback (scripted
answers): compile error -> wrong result -> correct kernel, with and without streaming; the
feedback of each round reaches the next request; the session is stored without the key;
replay re-runs from the stored answers with no server."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.generate.base import Task
from harness.generate.llm import LLMClient, LLMConfig, ReplayClient, SessionStore, read_transcript
from harness.generate.llm_generator import LLMGenerator
from harness.generate.loop import generate_on_device
from harness.core.records import Status
from harness.campaign.store import Store

from fake_openai_server import FakeOpenAI

SECRET = "sk-test-DO-NOT-STORE-0123456789"
BUDGET = {"max_time_s": 0.2, "min_samples": 3, "max_samples": 5}

GOOD = """\
#include <stddef.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * lda + k] * SCALE;
            const float *b = B + (size_t)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
"""
CORRECT = GOOD.replace("SCALE", "1.0f")
WRONG = GOOD.replace("SCALE", "1.001f")
BROKEN = GOOD.replace("SCALE", "scale_factor_undeclared")


def answer(code: str, lang: str = "c") -> str:
    return f"Plan: a simple loop nest.\n\n```{lang}\n{code}```\n"


def _run(lab, server_url: str, stream: bool, rounds: int = 3, shape=(64, 64, 64)):
    session = SessionStore(lab.ws.results / "sessions")
    cfg = LLMConfig(base_url=server_url, api_key=SECRET, model="fake-model", stream=stream, backoff_s=0.05)
    gen = LLMGenerator(LLMClient(cfg, session), scratch=lab.ws.root)
    task = Task("gemm", shape, "f32", ("host",), prompt="64x64x64 sgemm on host")
    with Store(lab.ws.database) as store:
        res = generate_on_device(lab, task, "host", gen, store, rounds=rounds, campaign="llm-test",
                                 search_overrides=BUDGET, final_overrides=BUDGET)
        stored = list(store.trials(campaign="llm-test"))
    return res, session, stored


@pytest.mark.parametrize("stream", [False, pytest.param(True, marks=pytest.mark.slow)],   # streaming: also
                         ids=["plain", "streaming"])                           # test_replay_from_stored_session
def test_feedback_loop_compile_error_then_wrong_then_correct(lab, stream):
    script = [{"status": 429}, answer(BROKEN), answer(WRONG), answer(CORRECT)]
    with FakeOpenAI(script) as srv:
        res, session, stored = _run(lab, srv.url, stream)
    # 4 HTTP requests: the 429 was retried with the same body
    assert len(srv.requests) == 4
    assert srv.requests[0] == srv.requests[1]
    assert bool(srv.requests[1].get("stream")) == stream
    assert srv.headers[1].get("authorization") == f"Bearer {SECRET}"
    second, third = srv.user_texts(2), srv.user_texts(3)
    # the second request carries the compiler's message, verbatim
    assert "scale_factor_undeclared" in second and "error" in second
    assert "compile_error" in second
    # the third carries the wrong-answer figures
    assert "wrong_answer" in third and "relative Frobenius error" in third
    assert "max abs error" in third and "first bad C[" in third
    assert [f.status for f in res.history] == ["compile_error", "wrong_answer", "ok"]
    assert res.ok and res.final.status is Status.OK and res.best.source == CORRECT
    assert res.folder and (res.folder / "kernel.c").read_text() == CORRECT
    meta = json.loads((res.folder / "meta.json").read_text())
    assert meta["generator"] == "llm" and meta["model"] == "fake-model" and meta["measured"]["status"] == "ok"
    assert len(meta["request_hashes"]) == 3
    assert any(t.kernel == "generated" and t.status is Status.OK for t in stored)
    # session: three exchanges with usage and cost; the key is nowhere on disk
    entries = read_transcript(session.dir)
    assert len(entries) == 3 and all(e["usage"]["completion_tokens"] > 0 for e in entries)
    assert entries[2]["response"].count("tensorop_gemm_f32") == 1
    for f in session.dir.iterdir():
        assert SECRET not in f.read_text()
    print(f"\ntranscript: {len(entries)} exchanges, {sum(len(json.dumps(e)) for e in entries)} bytes, "
          f"{sum(len(e['response']) for e in entries)} answer chars")


def test_replay_from_stored_session(lab):
    with FakeOpenAI([answer(BROKEN), answer(CORRECT)]) as srv:
        res, session, _ = _run(lab, srv.url, stream=True, rounds=2)
    assert res.ok
    # replay: no server at all; the same answers come back in order
    replay_session = SessionStore(lab.ws.results / "sessions")
    gen = LLMGenerator(ReplayClient(session.dir, replay_session))
    task = Task("gemm", (64, 64, 64), "f32", ("host",), prompt="64x64x64 sgemm on host")
    with Store(lab.ws.database) as store:
        res2 = generate_on_device(lab, task, "host", gen, store, rounds=2, campaign="replay",
                                  search_overrides=BUDGET, final_overrides=BUDGET, write=False)
    assert [f.status for f in res2.history] == ["compile_error", "ok"]
    assert gen.client.mismatches == 0      # same requests as the original run
    assert len(read_transcript(replay_session.dir)) == 2


def test_rate_limit_honours_retry_after():
    """The openai package's own retries: a 429 with Retry-After waits that long, then succeeds."""
    with FakeOpenAI([{"status": 429, "headers": {"Retry-After": "1.5"}}, "hello"]) as srv:
        client = LLMClient(LLMConfig(base_url=srv.url, api_key=SECRET, model="fake-model", stream=False))
        a = client.chat([{"role": "user", "content": "hi"}])
    assert a.text == "hello" and len(srv.requests) == 2
    assert srv.times[1] - srv.times[0] >= 1.4, srv.times     # the package's default first backoff is <= 1 s


def test_dropped_stream_is_requested_again():
    with FakeOpenAI([{"content": "a long answer " * 20, "drop": True}, "whole answer"]) as srv:
        client = LLMClient(LLMConfig(base_url=srv.url, api_key=SECRET, model="fake-model", stream=True,
                                     backoff_s=0.01))
        a = client.chat([{"role": "user", "content": "hi"}])
    assert a.text == "whole answer" and a.attempts == 2 and len(srv.requests) == 2


def test_bad_key_is_reported_not_swallowed(workspace):
    """A 401 while reading the prompt ends the command with the HTTP error, not a silent fallback."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-wrong-key-000000"}
    with FakeOpenAI([{"status": 401, "message": "Incorrect API key provided"}]) as srv:
        env["OPENAI_BASE_URL"] = srv.url
        p = subprocess.run([sys.executable, "-m", "harness", "generate", "a 32x32x32 sgemm on host", "--tune-budget", "0",
                            "--model", "fake-model", "--rounds", "1"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "HTTP 401" in p.stderr and "Incorrect API key" in p.stderr
    assert len(srv.requests) == 1


def test_cli_generate_with_endpoint_and_replay(workspace, tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    parse = json.dumps({"op": "gemm", "M": 64, "N": 48, "K": 40, "dtype": "f32", "devices": ["host"]})
    with FakeOpenAI([parse, answer(CORRECT)]) as srv:
        env["OPENAI_BASE_URL"] = srv.url
        p = subprocess.run([sys.executable, "-m", "harness", "generate", "a small sgemm on this machine", "--tune-budget", "0",
                            "--model", "fake-model", "--rounds", "1", "--max-time", "0.2", "--min-samples", "3",
                            "--max-samples", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "generated" in p.stdout and "64x48x40" in p.stdout
    assert (workspace.generated / "host" / "gemm_64x48x40_f32" / "kernel.c").read_text() == CORRECT
    sessions = sorted((workspace.results / "sessions").iterdir())
    assert len(sessions) == 1
    assert [e["purpose"] for e in read_transcript(sessions[0])] == ["parse", "generate"]
    assert SECRET not in (p.stdout + p.stderr)
    # replay through the CLI, endpoint unset
    env.pop("OPENAI_BASE_URL")
    env.pop("OPENAI_API_KEY")
    p = subprocess.run([sys.executable, "-m", "harness", "generate", "a small sgemm on this machine", "--tune-budget", "0",
                        "--replay", str(sessions[0]), "--rounds", "1", "--max-time", "0.2", "--min-samples", "3",
                        "--max-samples", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "64x48x40" in p.stdout
    assert "replay:" not in p.stderr
    meta = json.loads((workspace.generated / "host" / "gemm_64x48x40_f32" / "meta.json").read_text())
    assert meta["replay_mismatches"] == 0
    # a replay whose requests differ (a new alias changes the parse request's device list) says so
    (workspace.root / "devices.yaml").write_text((workspace.root / "devices.yaml").read_text().replace(
        "aliases: [native, localhost,", "aliases: [this-box, native, localhost,"))
    p = subprocess.run([sys.executable, "-m", "harness", "generate", "a small sgemm on this machine", "--tune-budget", "0",
                        "--replay", str(sessions[0]), "--rounds", "1", "--max-time", "0.2", "--min-samples", "3",
                        "--max-samples", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning: replay: 1 request(s) differed" in p.stderr, p.stderr
    meta = json.loads((workspace.generated / "host" / "gemm_64x48x40_f32" / "meta.json").read_text())
    assert meta["replay_mismatches"] >= 1
