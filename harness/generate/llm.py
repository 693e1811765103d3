"""LLM client for any OpenAI-compatible chat-completions endpoint (OpenAI, DeepSeek, vLLM,
Ollama, llama.cpp server) via the `openai` package, plus the session store and replay.

Configuration (flags override the environment): base URL (OPENAI_BASE_URL), key
(OPENAI_API_KEY; servers that need none get a placeholder), model (TENSOROP_MODEL or
OPENAI_MODEL). Retries on rate limits (429), 5xx, timeouts and connection errors are the
`openai` package's own (`max_retries`; it honours Retry-After); what it lacks is added here: a
stream that drops before its finish reason is requested again. Streaming prints progress
through a callback.

Every exchange is stored in results/sessions/<id>/transcript.jsonl (request messages,
answer, finish reason, token usage, cost estimate, latency); session.json holds the model and
the endpoint's host. The API key is never stored or logged. `ReplayClient` answers from a
stored session, in order, without any network.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

# USD per million tokens (input, output): a rough table for the cost estimate; override with
# TENSOROP_PRICE_IN / TENSOROP_PRICE_OUT. Local servers (vLLM, Ollama, llama.cpp) cost 0.
PRICES = {
    "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6),
    "o3": (2.0, 8.0), "o4-mini": (1.1, 4.4), "deepseek-chat": (0.27, 1.10), "deepseek-reasoner": (0.55, 2.19),
    "claude-3-5-sonnet": (3.0, 15.0),
}


class LLMError(RuntimeError):
    pass


class _StreamDropped(Exception):
    """A streamed answer broke off before its finish reason."""


def _transport_error(e: Exception) -> bool:
    """An error of the connection under a stream (the openai package's, its HTTP library's
    (httpx, or httpx2 in newer releases), or the socket's), not a bug of ours."""
    import openai
    root = type(e).__module__.split(".")[0]
    return isinstance(e, (openai.APIConnectionError, OSError)) or root in ("httpx", "httpx2", "httpcore")


@dataclass
class Answer:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1


@dataclass
class LLMConfig:
    base_url: str | None = None
    api_key: str | None = None
    model: str = ""
    stream: bool = True
    max_retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 300.0
    temperature: float | None = 0.2
    max_tokens: int | None = 8192

    @classmethod
    def from_env(cls, base_url=None, api_key=None, model=None, **kw) -> "LLMConfig":
        return cls(base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
                   api_key=api_key or os.environ.get("OPENAI_API_KEY") or None,
                   model=model or os.environ.get("TENSOROP_MODEL") or os.environ.get("OPENAI_MODEL") or "gpt-4o",
                   **{k: v for k, v in kw.items() if v is not None})

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)

    @property
    def host(self) -> str:
        u = urlparse(self.base_url or "https://api.openai.com/v1")
        return u.hostname or ""


def price(model: str) -> tuple[float, float] | None:
    try:
        return float(os.environ["TENSOROP_PRICE_IN"]), float(os.environ["TENSOROP_PRICE_OUT"])
    except (KeyError, ValueError):
        pass
    m = model.lower()
    for name in sorted(PRICES, key=len, reverse=True):
        if m.startswith(name) or m.endswith("/" + name):
            return PRICES[name]
    return None


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    p = price(model)
    return (prompt_tokens * p[0] + completion_tokens * p[1]) / 1e6 if p else 0.0


def request_hash(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


class SessionStore:
    """results/sessions/<id>/: session.json + transcript.jsonl (one exchange per line)."""

    def __init__(self, root: Path, session_id: str | None = None, meta: dict | None = None):
        self.id = session_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.dir = root / self.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.transcript = self.dir / "transcript.jsonl"
        self.meta = {"id": self.id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(meta or {})}
        self._write_meta()

    def _write_meta(self) -> None:
        (self.dir / "session.json").write_text(json.dumps(self.meta, indent=2, default=str) + "\n")

    def update(self, **kw) -> None:
        self.meta.update(kw)
        self._write_meta()

    def record(self, entry: dict) -> None:
        with self.transcript.open("a") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def totals(self) -> dict:
        n = pt = ct = 0
        usd = 0.0
        for e in read_transcript(self.dir):
            n += 1
            pt += e.get("usage", {}).get("prompt_tokens", 0)
            ct += e.get("usage", {}).get("completion_tokens", 0)
            usd += e.get("cost_usd", 0.0)
        return {"exchanges": n, "prompt_tokens": pt, "completion_tokens": ct, "cost_usd": round(usd, 6)}


def read_transcript(session_dir: Path) -> list[dict]:
    p = Path(session_dir) / "transcript.jsonl"
    if not p.is_file():
        raise LLMError(f"no transcript at {p}")
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]


class LLMClient:
    """chat(messages) -> Answer, with retries, streaming and the session record."""

    def __init__(self, config: LLMConfig, session: SessionStore | None = None,
                 on_progress: Callable[[str], None] | None = None):
        from openai import OpenAI   # imported here: the expert path never needs it
        self.config = config
        self.session = session
        self.on_progress = on_progress
        self.model = config.model
        self._client = OpenAI(base_url=config.base_url, api_key=config.api_key or "not-needed",
                              max_retries=config.max_retries, timeout=config.timeout_s)
        if session:
            session.update(model=config.model, endpoint_host=config.host, stream=config.stream, kind="llm")

    def _once(self, messages: list[dict]) -> Answer:
        kw = {"model": self.config.model, "messages": messages}
        if self.config.temperature is not None:
            kw["temperature"] = self.config.temperature
        if self.config.max_tokens:
            kw["max_tokens"] = self.config.max_tokens
        t0 = time.monotonic()
        if not self.config.stream:
            r = self._client.chat.completions.create(**kw)
            ch = r.choices[0] if r.choices else None
            text = (ch.message.content or "") if ch else ""
            u = r.usage
            return Answer(text=text, finish_reason=ch.finish_reason if ch else None,
                          prompt_tokens=getattr(u, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(u, "completion_tokens", 0) or 0,
                          latency_s=time.monotonic() - t0)
        parts: list[str] = []
        finish, pt, ct, last = None, 0, 0, 0.0
        stream = self._client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True})
        try:
            for chunk in stream:
                if getattr(chunk, "usage", None):
                    pt = chunk.usage.prompt_tokens or pt
                    ct = chunk.usage.completion_tokens or ct
                for ch in chunk.choices or []:
                    if ch.delta and ch.delta.content:
                        parts.append(ch.delta.content)
                    if ch.finish_reason:
                        finish = ch.finish_reason
                now = time.monotonic()
                if self.on_progress and now - last > 1.0:
                    last = now
                    self.on_progress(f"receiving: {sum(map(len, parts))} chars")
        except Exception as e:
            if not _transport_error(e):
                raise
            raise _StreamDropped(f"the stream broke after {sum(map(len, parts))} chars: {_safe(e)}") from None
        if finish is None:
            raise _StreamDropped(f"the stream ended after {sum(map(len, parts))} chars without a finish reason")
        text = "".join(parts)
        if not ct:   # the server sent no usage: estimate (about 4 characters per token)
            ct = max(1, len(text) // 4)
            pt = pt or sum(len(m.get("content", "")) for m in messages) // 4
        return Answer(text=text, finish_reason=finish, prompt_tokens=pt, completion_tokens=ct,
                      latency_s=time.monotonic() - t0)

    def chat(self, messages: list[dict], purpose: str = "generate") -> Answer:
        import openai
        attempt = 0
        while True:
            attempt += 1
            try:
                a = self._once(messages)
                break
            except _StreamDropped as e:      # the one retry the openai package does not make
                if attempt > self.config.max_retries:
                    raise LLMError(f"{e} (after {attempt} attempts)") from None
                if self.on_progress:
                    self.on_progress(f"{e}; requesting again ({attempt}/{self.config.max_retries})")
                time.sleep(self.config.backoff_s * attempt)
            except openai.APIStatusError as e:   # 4xx, or 429/5xx still failing after the package's retries
                raise LLMError(f"HTTP {e.status_code} from {self.config.host}: {_safe(e)}") from None
            except (openai.APIConnectionError, openai.APITimeoutError) as e:
                raise LLMError(f"{type(e).__name__} after {self.config.max_retries} retries: {_safe(e)}") from None
        a.attempts = attempt
        a.cost_usd = cost(self.config.model, a.prompt_tokens, a.completion_tokens)
        if self.session:
            self.session.record({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "purpose": purpose,
                                 "model": self.config.model, "request_sha256": request_hash(messages),
                                 "request": messages, "response": a.text, "finish_reason": a.finish_reason,
                                 "usage": {"prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens},
                                 "cost_usd": a.cost_usd, "latency_s": round(a.latency_s, 3),
                                 "attempts": attempt})
        return a


def _safe(e: Exception) -> str:
    """An error message without anything that looks like a key."""
    import re
    text = str(e)[:300]
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        text = text.replace(key, "***")
    return re.sub(r"(sk-|Bearer\s+)[A-Za-z0-9_\-]{6,}", r"\1***", text)


class ReplayClient:
    """Answers from a stored session's transcript, in order (no network). Requests are
    recorded again in a new session (purpose preserved) so a replay is itself replayable."""

    def __init__(self, session_dir: Path, session: SessionStore | None = None,
                 on_progress: Callable[[str], None] | None = None):
        self.source = Path(session_dir)
        self.entries = read_transcript(self.source)
        src_meta = {}
        try:
            src_meta = json.loads((self.source / "session.json").read_text())
        except (OSError, json.JSONDecodeError):
            pass
        self.model = src_meta.get("model", "replay")
        self.session = session
        self.i = 0
        self.mismatches = 0
        if session:
            session.update(model=self.model, kind="replay", replay_of=str(self.source))

    def chat(self, messages: list[dict], purpose: str = "generate") -> Answer:
        while self.i < len(self.entries) and self.entries[self.i].get("purpose", "generate") != purpose:
            self.i += 1
        if self.i >= len(self.entries):
            raise LLMError(f"replay: the stored session {self.source} has no more '{purpose}' answers")
        e = self.entries[self.i]
        self.i += 1
        if e.get("request_sha256") and e["request_sha256"] != request_hash(messages):
            self.mismatches += 1
            if self.session:
                self.session.update(replay_mismatches=self.mismatches)
        u = e.get("usage", {})
        a = Answer(text=e.get("response", ""), finish_reason=e.get("finish_reason"),
                   prompt_tokens=u.get("prompt_tokens", 0), completion_tokens=u.get("completion_tokens", 0),
                   cost_usd=0.0)
        if self.session:
            self.session.record({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "purpose": purpose,
                                 "model": self.model, "request_sha256": request_hash(messages), "request": messages,
                                 "response": a.text, "finish_reason": a.finish_reason, "usage": u, "cost_usd": 0.0,
                                 "replayed_from": str(self.source)})
        return a
