"""A small OpenAI-compatible LLM provider for the integration tests and the benchmark.

It answers `POST /v1/chat/completions` (JSON or SSE), `GET /v1/models`, `/healthz` and `/readyz`,
records what it receives (path, headers, body) and can be told to fail, hang or report not-ready.
Raw asyncio HTTP/1.1 with keep-alive, so it costs ~0.05 ms of CPU per answer and does not skew the
benchmark. Run: `python tests/integration/fake_provider.py --port 0` (prints `listening <port>`).

Control (JSON bodies):
  POST /_control   {"mode": "ok"|"fail"|"hang"|"bad_request", "reply": "...", "ready": true, "chunk_chars": 8,
                    "record": true, "delay_s": 0}   any subset; answers the resulting state
  GET  /_requests  the recorded requests: [{"path", "headers", "body"}]
  POST /_reset     clear recordings and restore the defaults
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

DEFAULT_REPLY = "Hello from the fake provider."


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self.requests.clear()
        self.mode = "ok"
        self.reply = DEFAULT_REPLY
        self.ready = True
        self.chunk_chars = 8
        self.record = True
        self.delay_s = 0.0

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in ("mode", "reply", "ready", "chunk_chars", "record", "delay_s"):
            if key in body:
                setattr(self, key, body[key])
        return {
            "mode": self.mode,
            "reply": self.reply,
            "ready": self.ready,
            "chunk_chars": self.chunk_chars,
            "record": self.record,
            "delay_s": self.delay_s,
        }

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[bytes]]:
        """(status, content type, body parts); several parts are sent as SSE events."""
        path = path.split("?", 1)[0]
        if path == "/_control" and method == "POST":
            return 200, "application/json", [json.dumps(self.control(json.loads(body))).encode()]
        if path == "/_requests":
            return 200, "application/json", [json.dumps(self.requests).encode()]
        if path == "/_reset":
            self.reset()
            return 200, "application/json", [b"{}"]
        if path in ("/healthz", "/health"):
            return 200, "application/json", [b'{"status":"ok"}']
        if path == "/readyz":
            return (200 if self.ready else 503), "application/json", [b"{}"]
        if path.endswith("/models"):
            data = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            return 200, "application/json", [json.dumps(data).encode()]
        if not path.endswith("/chat/completions") or method != "POST":
            return 404, "application/json", [b'{"error":{"message":"not found"}}']
        req = json.loads(body or b"{}")
        if self.record:
            self.requests.append({"path": path, "headers": headers, "body": req})
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.delay_s:
            await asyncio.sleep(float(self.delay_s))
        if self.mode == "bad_request":
            err = {"error": {"message": "fake provider rejects this", "type": "invalid_request_error"}}
            return 400, "application/json", [json.dumps(err).encode()]
        if self.mode == "fail":
            err = {"error": {"message": "fake provider failure", "type": "server_error"}}
            return 500, "application/json", [json.dumps(err).encode()]
        model = str(req.get("model", "fake-model"))
        if req.get("stream"):
            return 200, "text/event-stream", self._sse(model, bool(req.get("stream_options")))
        return 200, "application/json", [json.dumps(self._completion(model, req)).encode()]

    def _usage(self, req: dict[str, Any] | None = None) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", ""))) for m in (req or {}).get("messages", []))
        p, c = max(1, prompt // 4), max(1, len(self.reply) // 4)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def _completion(self, model: str, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(req),
        }

    def _sse(self, model: str, include_usage: bool) -> list[bytes]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0}
        base["model"] = model

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {**base, "choices": [choice], **extra}
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        n = max(1, int(self.chunk_chars))
        parts = [event({"role": "assistant", "content": ""})]
        parts += [event({"content": self.reply[i : i + n]}) for i in range(0, len(self.reply), n)]
        parts.append(event({}, "stop"))
        if include_usage:
            usage = {**base, "choices": [], "usage": self._usage()}
            parts.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
        parts.append(b"data: [DONE]\n\n")
        return parts


async def _serve_connection(provider: FakeProvider, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await _read_chunked(reader)
            status, ctype, parts = await provider.handle(method, target, headers, body)
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "X")
            if ctype == "text/event-stream":
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
                    "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n".encode()
                )
                for part in parts:
                    writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            else:
                payload = b"".join(parts)
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readline()).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return out
        out += await reader.readexactly(size)
        await reader.readline()


async def serve(host: str, port: int) -> None:
    provider = FakeProvider()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(provider, reader, writer)

    server = await asyncio.start_server(on_connect, host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
