"""The agent-side upstreams: an MCP server (streamable HTTP, JSON-RPC: initialize,
notifications/initialized, ping, tools/list, tools/call) and an A2A agent (agent card at the
well-known paths, JSON-RPC message/send and message/stream in protocol 0.3 shapes)."""

from __future__ import annotations

import json
from typing import Any

from .openai_api import TOOL_NAME
from .wire import Answer, Reply, dumps, json_answer, sse_data, sse_event

MCP_SESSION = "fake-mcp-session"
MCP_TOOLS = [
    {
        "name": TOOL_NAME,
        "description": "Looks a text up and answers what it found.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "echo",
        "description": "Answers its input.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
]


def mcp(method: str, body: bytes, reply: Reply, as_sse: bool) -> Answer:
    """POST/GET/DELETE on the MCP endpoint. A JSON-RPC request is answered with one JSON object
    (or one SSE `message` event when `as_sse`), a notification with 202."""
    if method == "GET":  # no server-initiated stream
        return Answer(405, "application/json", b'{"error":"no SSE stream on GET"}', headers=[("allow", "POST")])
    if method == "DELETE":
        return Answer(200, "application/json", b"{}")
    message = json.loads(body or b"{}")
    if "id" not in message:
        return Answer(202, "application/json", b"")
    result = _mcp_result(message, reply)
    answer = {"jsonrpc": "2.0", "id": message["id"], **result}
    headers = [("mcp-session-id", MCP_SESSION)]
    if as_sse:
        return Answer(200, "text/event-stream", chunks=[sse_event("message", answer)], headers=headers)
    return json_answer(answer, headers=headers)


def _mcp_result(message: dict[str, Any], reply: Reply) -> dict[str, Any]:
    method, params = message.get("method"), message.get("params") or {}
    if method == "initialize":
        return {
            "result": {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "fake-mcp", "version": "1.0.0"},
            }
        }
    if method == "ping":
        return {"result": {}}
    if method == "tools/list":
        return {"result": {"tools": MCP_TOOLS}}
    if method == "tools/call":
        content = []
        if reply.has("tool_result_text", primary=True):
            content.append({"type": "text", "text": reply.text})
        result: dict[str, Any] = {"content": content, "isError": False}
        if reply.has("structured_content"):
            result["structuredContent"] = {"text": reply.text}
        return {"result": result}
    return {"error": {"code": -32601, "message": f"Method not found: {method}"}}


def agent_card(base_url: str) -> Answer:
    return json_answer(
        {
            "name": "fake-agent",
            "description": "Answers every message with the configured reply.",
            "url": f"{base_url}/a2a",
            "version": "1.0.0",
            "protocolVersion": "0.3.0",
            "preferredTransport": "JSONRPC",
            "capabilities": {"streaming": True, "pushNotifications": False},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "answer", "name": "answer", "description": "Answers.", "tags": ["fake"]}],
        }
    )


def a2a(body: bytes, reply: Reply) -> Answer:
    request = json.loads(body or b"{}")
    request_id, method = request.get("id"), request.get("method")
    params = request.get("params") or {}
    incoming = params.get("message") or {}
    context_id = incoming.get("contextId") or "ctx-fake"
    if method in ("message/send", "SendMessage"):
        return json_answer({"jsonrpc": "2.0", "id": request_id, "result": _a2a_result(reply, context_id)})
    if method in ("message/stream", "SendStreamingMessage"):
        events = [
            sse_data({"jsonrpc": "2.0", "id": request_id, "result": item}) for item in _a2a_events(reply, context_id)
        ]
        return Answer(200, "text/event-stream", chunks=events)
    if method == "tasks/get":
        return json_answer({"jsonrpc": "2.0", "id": request_id, "result": _task(reply, context_id)})
    error = {"code": -32601, "message": f"Method not found: {method}"}
    return Answer(200, "application/json", dumps({"jsonrpc": "2.0", "id": request_id, "error": error}))


def _message(text: str, context_id: str, task_id: str | None = None) -> dict[str, Any]:
    message = {"kind": "message", "messageId": "msg-fake", "role": "agent", "parts": [{"kind": "text", "text": text}]}
    message["contextId"] = context_id
    if task_id:
        message["taskId"] = task_id
    return message


def _task(reply: Reply, context_id: str) -> dict[str, Any]:
    status: dict[str, Any] = {"state": "completed"}
    if reply.has("status_message"):
        status["message"] = _message(reply.text, context_id, "task-fake")
    artifact = {"artifactId": "artifact-fake", "parts": [{"kind": "text", "text": reply.text}]}
    return {
        "kind": "task",
        "id": "task-fake",
        "contextId": context_id,
        "status": status,
        "artifacts": [artifact] if reply.has("artifact_text") else [],
    }


def _a2a_result(reply: Reply, context_id: str) -> dict[str, Any]:
    """A Message (the reply in its parts) by default; a Task when the reply goes to an artifact or
    the status message."""
    if reply.has("message_text", primary=True) and not (reply.has("artifact_text") or reply.has("status_message")):
        return _message(reply.text, context_id)
    return _task(reply, context_id)


def _a2a_events(reply: Reply, context_id: str) -> list[dict[str, Any]]:
    """A task, its text as status-update messages (or artifact-update chunks), then the final
    status-update."""
    task_id = "task-fake"
    events: list[dict[str, Any]] = [
        {"kind": "task", "id": task_id, "contextId": context_id, "status": {"state": "submitted"}, "artifacts": []}
    ]
    for piece in reply.pieces():
        if reply.has("message_text", primary=True) or reply.has("status_message"):
            status = {"state": "working", "message": _message(piece, context_id, task_id)}
            events.append(
                {"kind": "status-update", "taskId": task_id, "contextId": context_id, "status": status, "final": False}
            )
        if reply.has("artifact_text"):
            artifact = {"artifactId": "artifact-fake", "parts": [{"kind": "text", "text": piece}]}
            events.append(
                {
                    "kind": "artifact-update",
                    "taskId": task_id,
                    "contextId": context_id,
                    "artifact": artifact,
                    "append": True,
                    "lastChunk": False,
                }
            )
    done = {"kind": "status-update", "taskId": task_id, "contextId": context_id, "final": True}
    events.append({**done, "status": {"state": "completed"}})
    return events
