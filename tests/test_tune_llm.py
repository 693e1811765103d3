"""MCTS expansions proposed by an LLM through a real OpenAI-compatible HTTP server on
loopback (tests/fake_openai_server.py) replaying scripted answers: valid and invalid moves,
a malformed answer, the endpoint failing; every case falls back to rule moves, never crashes."""
import json

from fake_openai_server import FakeOpenAI

from harness.generate.llm import LLMClient, LLMConfig
from harness.tune.strategies import mcts
from harness.tune import synthetic as S
from harness.tune.moves import LLMMoveProposer, RuleMoveProposer


def client(url):
    return LLMClient(LLMConfig(base_url=url, api_key="sk-test-key", model="fake-model", stream=False,
                               max_retries=0, backoff_s=0.01, timeout_s=10))


def test_llm_moves_parsed_validated_and_errors_fed_back():
    script = [
        # start point MR=4, NV=1, KC=128, U=1
        json.dumps({"moves": ["MR 4 -> 8", "KC+32", "BN+32", "NV 1 -> 4, MR 4 -> 16", "U 1 -> 4"],
                    "why": "bigger register tile"}),
        "I would increase the tile size, it usually helps.",          # malformed: no moves
        "```json\n" + json.dumps({"moves": ["KC+64"]}) + "\n```",
    ]
    with FakeOpenAI(script) as srv:
        prop = LLMMoveProposer(client(srv.url), hardware="32 vector registers of 512 bits",
                               fallback=RuleMoveProposer(seed=0), max_moves=4)
        syn = S.Synthetic(seed=0)
        r = mcts.tune(S.space(), syn, mcts.MCTSOptions(budget=12, seed=0, context=S.CONTEXT, proposer=prop))
        n_requests = len(srv.requests)
        texts = [srv.user_texts(i) for i in range(n_requests)]
        auth = srv.headers[0].get("authorization", "")
    assert len(r.history) == 12 and max(syn.calls.values()) == 1 and r.best is not None
    first = prop.log[0]
    assert first["accepted"][:2] == ["MR 4 -> 8", "U 1 -> 4"]
    reasons = dict((t, why) for t, why in first["dropped"])
    assert "not in its domain" in reasons["KC+32"]
    assert "unknown parameter BN" in reasons["BN+32"]
    assert "violates" in reasons["NV 1 -> 4, MR 4 -> 16"]
    # the first accepted LLM move was the first expansion of the root
    assert r.history[1].point == {"MR": 8, "NV": 1, "KC": 128, "U": 1}
    # the second request shows the measured history and the reasons of the dropped moves
    assert "KC+32" in texts[1] and "not in its domain" in texts[1] and "cost" in texts[1]
    assert "32 vector registers" in texts[0] and "MR * NV <= vregs - NV - 1" in texts[0]
    # the malformed answer is recorded and the proposer fell back to rule moves
    malformed = prop.log[1]
    assert malformed.get("fallback") and "no moves in the requested JSON form" in malformed["dropped"][0][1]
    assert "no moves in the requested JSON form" in texts[2]
    # after the script ran out the server answers 500: the endpoint failing falls back too
    assert any("error" in e for e in prop.log)
    assert n_requests == 3 + prop.max_failures          # then rules only: the endpoint is not hammered
    assert auth.endswith("sk-test-key")


def test_parse_forms():
    assert LLMMoveProposer.parse('{"moves": ["KC+64", "MR 8 -> 12"]}') == ["KC+64", "MR 8 -> 12"]
    assert LLMMoveProposer.parse('Sure! ["NC-512"]') == ["NC-512"]
    assert LLMMoveProposer.parse("increase KC") is None
