"""HTTP/1.1 on raw asyncio (keep-alive, chunked in and out), the provider's state, the control API
and the routing of provider paths to the answer builders.

Control (JSON bodies; see fake_provider.py for the whole API):
  POST /_control   {"mode", "reply", "reply_in", "ready", "chunk_chars", "record", "delay_s", "mcp_sse"}
  POST /_script    {"path", "times", "status", "headers", "body" | "body_b64" | "chunks" | "chunks_b64",
                    "repeat", "chunk_delay_s", "raw_b64"}   queue an exact raw answer for `path`
  GET  /_requests  the recorded requests
  GET  /_inflight  provider requests being answered now and the most at once since the reset
  POST /_reset     clear recordings and scripts, restore the defaults
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import agents, anthropic_api, openai_api
from .wire import PRIMARY, Answer, Reply, describe_parts, error, json_answer, parse_multipart

DEFAULT_REPLY = "Hello from the fake provider."
_UNRECORDED = ("/healthz", "/health", "/readyz")
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS |= {500: "Internal Server Error"}


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripts: dict[str, deque[dict[str, Any]]] = {}
        self.files = openai_api.FileStore()
        self.inflight = 0
        self.reset()

    def reset(self) -> None:
        self.requests.clear()
        self.scripts.clear()
        self.files = openai_api.FileStore()
        self.mode = "ok"
        self.reply = DEFAULT_REPLY
        self.reply_in: list[str] = [PRIMARY]
        self.ready = True
        self.chunk_chars = 8
        self.record = True
        self.delay_s = 0.0
        self.mcp_sse = False
        self.peak_inflight = self.inflight  # requests still running when reset count on

    _SETTINGS = ("mode", "reply", "reply_in", "ready", "chunk_chars", "record", "delay_s", "mcp_sse")

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in self._SETTINGS:
            if key in body:
                setattr(self, key, body[key])
        return {key: getattr(self, key) for key in self._SETTINGS}

    def script(self, body: dict[str, Any]) -> dict[str, Any]:
        path = str(body["path"])
        self.scripts.setdefault(path, deque()).append({**body, "times": int(body.get("times", 1))})
        return {"path": path, "queued": len(self.scripts[path])}

    def _take_script(self, path: str) -> dict[str, Any] | None:
        queue = self.scripts.get(path) or self.scripts.get("*")
        if not queue:
            return None
        script = queue[0]
        script["times"] -= 1
        if script["times"] <= 0:
            queue.popleft()
        return script

    def _reply(self) -> Reply:
        slots = [self.reply_in] if isinstance(self.reply_in, str) else self.reply_in
        return Reply(str(self.reply), int(self.chunk_chars), frozenset(slots))

    # --- one request ------------------------------------------------------------------------

    async def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer | dict[str, Any]:
        """The answer, or a script (a dict) for the connection to write as it is."""
        split = urlsplit(target)
        path = split.path
        if path == "/_control" and method == "POST":
            return json_answer(self.control(json.loads(body)))
        if path == "/_script" and method == "POST":
            return json_answer(self.script(json.loads(body)))
        if path == "/_requests":
            return json_answer(self.requests)
        if path == "/_inflight":
            return json_answer({"now": self.inflight, "peak": self.peak_inflight})
        if path == "/_reset":
            self.reset()
            return json_answer({})
        if path in ("/healthz", "/health"):
            return json_answer({"status": "ok"})
        if path == "/readyz":
            return json_answer({}, 200 if self.ready else 503)

        record = self._record(method, path, split.query, headers, body)
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)
        try:
            return await self._answer(method, path, headers, body, record)
        finally:
            self.inflight -= 1

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, record: dict[str, Any]
    ) -> Answer | dict[str, Any]:
        script = self._take_script(path)
        if script is not None:
            return script
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.delay_s:
            await asyncio.sleep(float(self.delay_s))
        if self.mode == "bad_request":
            return error(400, "fake provider rejects this")
        if self.mode == "fail":
            return error(500, "fake provider failure", "server_error")
        try:
            return self._route(method, path, headers, body, record)
        except (ValueError, KeyError, TypeError) as exc:  # a malformed request: say so, like a provider
            return error(400, f"fake provider cannot read this request: {type(exc).__name__}: {exc}")

    def _record(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"method": method, "path": path, "query": parse_qs(query), "headers": headers}
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            fields, files = describe_parts(parse_multipart(ctype, body))
            entry["body"], entry["files"] = fields, files
        elif body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = body.decode("utf-8", "replace")
        else:
            entry["body"] = None
        if self.record and not path.startswith(_UNRECORDED) and not path.endswith("/models"):
            self.requests.append(entry)
        return entry

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes, record: dict[str, Any]) -> Answer:
        reply = self._reply()
        req = record["body"] if isinstance(record["body"], dict) else {}
        base_url = f"http://{headers.get('host', '127.0.0.1')}"
        tail = path.rstrip("/")
        if tail.endswith("/models"):
            return json_answer(
                {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]}
            )
        if tail == "/mcp" or tail.startswith("/mcp/"):
            return agents.mcp(method, body, reply, bool(self.mcp_sse))
        if tail.startswith("/a2a"):
            if tail.endswith(("/.well-known/agent-card.json", "/.well-known/agent.json")):
                return agents.agent_card(base_url)
            return agents.a2a(body, reply)
        if "/files" in tail or "/batches" in tail:
            return self._files(method, tail, record, reply)
        if method != "POST":
            return error(404, f"no {method} {path} here", "not_found")
        routes = {
            "/chat/completions": lambda: openai_api.chat(req, reply),
            "/completions": lambda: openai_api.completions(req, reply),
            "/responses": lambda: openai_api.responses(req, reply),
            "/messages": lambda: anthropic_api.messages(req, reply),
            "/embeddings": lambda: openai_api.embeddings(req, reply),
            "/images/generations": lambda: openai_api.images(req, reply, base_url),
            "/images/edits": lambda: openai_api.images(req, reply, base_url),
            "/audio/speech": lambda: openai_api.speech(req),
            "/audio/transcriptions": lambda: openai_api.transcription(req, reply),
            "/audio/translations": lambda: openai_api.transcription(req, reply),
            "/moderations": lambda: openai_api.moderations(req),
            "/rerank": lambda: openai_api.rerank(req, reply),
        }
        for suffix, build in routes.items():
            if tail.endswith(suffix):
                return build()
        return error(404, f"no POST {path} here", "not_found")

    def _files(self, method: str, tail: str, record: dict[str, Any], reply: Reply) -> Answer:
        store = self.files
        parts = tail.split("/")
        kind = "files" if "files" in parts else "batches"
        rest = parts[parts.index(kind) + 1 :]
        if kind == "files":
            if method == "POST" and not rest:
                [upload] = [f for f in record.get("files", []) if f["field"] == "file"]
                content = upload["content"].encode() if "content" in upload else base64.b64decode(upload["content_b64"])
                return json_answer(store.add_file(upload["filename"], str(record["body"].get("purpose")), content))
            if method == "GET" and not rest:
                return store.list_files()
            if method == "GET" and rest[1:] == ["content"]:
                return store.file_content(rest[0])
            if method == "GET" and len(rest) == 1:
                meta = store.files.get(rest[0])
                return json_answer(meta) if meta else error(404, f"No such File object: {rest[0]}")
            if method == "DELETE" and len(rest) == 1:
                return store.delete_file(rest[0])
        else:
            if method == "POST" and not rest:
                return store.create_batch(record["body"])
            if method == "GET" and not rest:
                return store.list_batches()
            if method == "GET" and len(rest) == 1:
                return store.retrieve_batch(rest[0], reply)
            if method == "POST" and rest[1:] == ["cancel"]:
                return store.cancel_batch(rest[0])
        return error(404, f"no {method} {tail} here", "not_found")


# --- the wire ------------------------------------------------------------------------------------


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
            answer = await provider.handle(method, target, headers, body)
            if isinstance(answer, dict):
                if await _write_script(writer, answer):
                    break
            else:
                await _write_answer(writer, answer)
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _write_answer(writer: asyncio.StreamWriter, answer: Answer) -> None:
    head = f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'X')}\r\ncontent-type: {answer.content_type}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in answer.headers)
    if answer.chunks is None:
        writer.write(f"{head}content-length: {len(answer.body)}\r\n\r\n".encode("latin-1") + answer.body)
    else:
        writer.write(f"{head}cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n".encode("latin-1"))
        for part in answer.chunks:
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _write_script(writer: asyncio.StreamWriter, script: dict[str, Any]) -> bool:
    """Write a scripted answer byte for byte; True when the connection must close after it."""
    if "raw_b64" in script:
        writer.write(base64.b64decode(script["raw_b64"]))
        await writer.drain()
        return True
    status = int(script.get("status", 200))
    headers = [(str(k), str(v)) for k, v in script.get("headers", [])]
    names = {k.lower() for k, _ in headers}
    head = f"HTTP/1.1 {status} {script.get('reason', _REASONS.get(status, 'X'))}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    chunks = script.get("chunks")
    if "chunks_b64" in script:
        chunks = [base64.b64decode(c) for c in script["chunks_b64"]]
    elif chunks is not None:
        chunks = [c.encode() for c in chunks]
    if chunks is not None:
        chunked = "content-length" not in names
        if chunked and "transfer-encoding" not in names:
            head += "transfer-encoding: chunked\r\n"
        writer.write(f"{head}\r\n".encode("latin-1"))
        for chunk in chunks:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            await writer.drain()
            if script.get("chunk_delay_s"):
                await asyncio.sleep(float(script["chunk_delay_s"]))
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return not chunked
    body = base64.b64decode(script["body_b64"]) if "body_b64" in script else str(script.get("body", "")).encode()
    body *= int(script.get("repeat", 1))
    if "content-length" not in names:
        head += f"content-length: {len(body)}\r\n"
    writer.write(f"{head}\r\n".encode("latin-1") + body)
    await writer.drain()
    return False


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

    server = await asyncio.start_server(on_connect, host, port, limit=1 << 20)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    async with server:
        await server.serve_forever()
