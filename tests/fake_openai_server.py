"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the LLM tests.

It speaks POST /v1/chat/completions (plain JSON and streaming server-sent events, with a usage
chunk when `stream_options.include_usage` is set) and replays scripted answers in order.
Each scripted item is a string (the answer's content) or a dict:
    {"content": str, "finish_reason": "stop"|"length", "status": 429|500|..., "headers": {...},
     "drop": True}
An item with "status" is answered with that HTTP error (and consumed), to test retries, with
the extra response "headers" given (e.g. Retry-After). A streamed item with "drop" sends half
its content and closes the connection without a finish reason (a dropped stream).
`times` holds the arrival time (time.monotonic) of each request.
Every request body is kept in `server.requests` (headers too, to check the key is sent but
never stored by the client).
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, script: list, model: str = "fake-model"):
        self.script = list(script)
        self.model = model
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                with owner.lock:
                    owner.requests.append(body)
                    owner.times.append(time.monotonic())
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    item = owner.script.pop(0) if owner.script else {"status": 500}
                if isinstance(item, str):
                    item = {"content": item}
                if "status" in item:
                    return self._json(item["status"], {"error": {"message": item.get("message", "scripted error"),
                                                                 "type": "scripted", "code": item["status"]}},
                                      item.get("headers", {}))
                content, finish = item.get("content", ""), item.get("finish_reason", "stop")
                pt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
                ct = max(1, len(content) // 4)
                usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
                cid = f"chatcmpl-{len(owner.requests)}"
                if body.get("stream"):
                    return self._stream(cid, content, finish, usage,
                                        (body.get("stream_options") or {}).get("include_usage"), item.get("drop"))
                self._json(200, {"id": cid, "object": "chat.completion", "created": int(time.time()),
                                 "model": owner.model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                              "finish_reason": finish}], "usage": usage})

            def _json(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, cid, content, finish, usage, include_usage, drop=False):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": owner.model}

                def send(obj):
                    self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                    self.wfile.flush()
                send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "finish_reason": None}]})
                if drop:
                    send({**base, "choices": [{"index": 0, "delta": {"content": content[:len(content) // 2]},
                                               "finish_reason": None}]})
                    self.close_connection = True
                    return
                for i in range(0, len(content), 200):
                    send({**base, "choices": [{"index": 0, "delta": {"content": content[i:i + 200]},
                                               "finish_reason": None}]})
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if include_usage:
                    send({**base, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def user_texts(self, i: int) -> str:
        """All user-message text of request i."""
        return "\n".join(str(m.get("content", "")) for m in self.requests[i].get("messages", [])
                         if m.get("role") == "user")
