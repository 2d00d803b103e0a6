"""Anthropic's Messages API as the provider answers it: content blocks (thinking, text, tool_use)
and its event stream (message_start, content_block_start/delta/stop, message_delta,
message_stop, with a ping)."""

from __future__ import annotations

import json
from typing import Any

from .openai_api import TOOL_NAME
from .wire import Answer, Reply, json_answer, sse_event, tokens


def messages(req: dict[str, Any], reply: Reply) -> Answer:
    model = str(req.get("model", "claude-fake"))
    blocks = _blocks(reply)
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    usage = {
        "input_tokens": tokens(json.dumps([req.get("system"), req.get("messages")])),
        "output_tokens": tokens(reply.text),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    if not req.get("stream"):
        return json_answer(message)
    return Answer(200, "text/event-stream", chunks=_stream(message, reply))


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.has("thinking"):
        blocks.append({"type": "thinking", "thinking": reply.text, "signature": "c2lnLWZha2U="})
    if reply.has("text", primary=True):
        blocks.append({"type": "text", "text": reply.text})
    if reply.has("tool_use_input"):
        blocks.append({"type": "tool_use", "id": "toolu_fake_0", "name": TOOL_NAME, "input": {"text": reply.text}})
    return blocks


def _stream(message: dict[str, Any], reply: Reply) -> list[bytes]:
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events = [sse_event("message_start", {"type": "message_start", "message": start})]
    events.append(sse_event("ping", {"type": "ping"}))
    for index, block in enumerate(message["content"]):
        if block["type"] == "thinking":
            opening: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in reply.pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces(block["text"])]
        else:
            opening = {**block, "input": {}}
            arguments = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in reply.pieces(arguments)]
        start_block = {"type": "content_block_start", "index": index, "content_block": opening}
        events.append(sse_event("content_block_start", start_block))
        events += [
            sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            for delta in deltas
        ]
        events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events
