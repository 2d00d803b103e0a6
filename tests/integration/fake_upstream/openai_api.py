"""The OpenAI API as a provider answers it (chat completions, completions, Responses API,
embeddings, images, audio, moderations, files, batches), plus Cohere's rerank shape that
LiteLLM's cohere/ provider parses. Pure functions of the request and the reply settings."""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from .wire import Answer, Reply, dumps, error, json_answer, sse_data, sse_event, tokens

TOOL_NAME = "lookup"
# A 1x1 transparent PNG: the b64_json of every generated image.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _prompt_tokens(req: dict[str, Any]) -> int:
    return tokens(json.dumps(req.get("messages") or req.get("prompt") or req.get("input") or ""))


def _tool_arguments(reply: Reply) -> str:
    return json.dumps({"text": reply.text})


# --- chat completions ----------------------------------------------------------------------------


def chat(req: dict[str, Any], reply: Reply) -> Answer:
    model = str(req.get("model", "fake-model"))
    usage = _chat_usage(req, reply)
    if req.get("stream"):
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        return Answer(200, "text/event-stream", chunks=_chat_stream(model, reply, usage if include_usage else None))
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if reply.has("content", primary=True):
        message["content"] = reply.text
    if reply.has("content_parts"):
        message["content"] = [{"type": "text", "text": reply.text}]
    if reply.has("reasoning_content"):
        message["reasoning_content"] = reply.text
    if reply.has("refusal"):
        message["refusal"] = reply.text
    finish = "stop"
    if reply.has("tool_call_arguments"):
        finish = "tool_calls"
        message["tool_calls"] = [
            {
                "id": "call_fake_0",
                "type": "function",
                "function": {"name": TOOL_NAME, "arguments": _tool_arguments(reply)},
            }
        ]
    return json_answer(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
    )


def _chat_usage(req: dict[str, Any], reply: Reply) -> dict[str, int]:
    p, c = _prompt_tokens(req), tokens(reply.text)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _chat_stream(model: str, reply: Reply, usage: dict[str, int] | None) -> list[bytes]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    base["system_fingerprint"] = "fp_fake"

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse_data({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    parts = [event({"role": "assistant", "content": ""})]
    if reply.has("reasoning_content"):
        parts += [event({"reasoning_content": piece}) for piece in reply.pieces()]
    if reply.has("content", primary=True):
        parts += [event({"content": piece}) for piece in reply.pieces()]
    if reply.has("content_parts"):
        parts += [event({"content": [{"type": "text", "text": piece}]}) for piece in reply.pieces()]
    if reply.has("refusal"):
        parts += [event({"refusal": piece}) for piece in reply.pieces()]
    finish = "stop"
    if reply.has("tool_call_arguments"):
        finish = "tool_calls"
        first = {"index": 0, "id": "call_fake_0", "type": "function", "function": {"name": TOOL_NAME, "arguments": ""}}
        parts.append(event({"tool_calls": [first]}))
        parts += [
            event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in reply.pieces(_tool_arguments(reply))
        ]
    parts.append(event({}, finish))
    if usage is not None:
        parts.append(sse_data({**base, "choices": [], "usage": usage}))
    parts.append(sse_data("[DONE]"))
    return parts


# --- completions -------------------------------------------------------------------------------


def completions(req: dict[str, Any], reply: Reply) -> Answer:
    model = str(req.get("model", "fake-model"))
    prompt = req.get("prompt", "")
    # A list of strings is one prompt each; a list of token ids (or a string) is one prompt.
    count = len(prompt) if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else 1
    text = reply.text if reply.has("text", primary=True) else ""
    p, c = _prompt_tokens(req), tokens(text) * count
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model}
    if req.get("stream"):
        chunks = []
        for index in range(count):
            for piece in reply.pieces(text):
                choice = {"text": piece, "index": index, "logprobs": None, "finish_reason": None}
                chunks.append(sse_data({**base, "choices": [choice]}))
            end = {"text": "", "index": index, "logprobs": None, "finish_reason": "stop"}
            chunks.append(sse_data({**base, "choices": [end]}))
        if (req.get("stream_options") or {}).get("include_usage"):
            chunks.append(sse_data({**base, "choices": [], "usage": usage}))
        chunks.append(sse_data("[DONE]"))
        return Answer(200, "text/event-stream", chunks=chunks)
    choices = [{"text": text, "index": i, "logprobs": None, "finish_reason": "stop"} for i in range(count)]
    return json_answer({**base, "system_fingerprint": "fp_fake", "choices": choices, "usage": usage})


# --- Responses API -----------------------------------------------------------------------------


def responses(req: dict[str, Any], reply: Reply) -> Answer:
    model = str(req.get("model", "fake-model"))
    items = _response_items(reply)
    final = _response(req, model, items, "completed", reply)
    if not req.get("stream"):
        return json_answer(final)
    return Answer(200, "text/event-stream", chunks=_responses_stream(req, model, items, final, reply))


def _response_items(reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.has("reasoning"):
        summary = [{"type": "summary_text", "text": reply.text}]
        items.append({"id": "rs_fake_0", "type": "reasoning", "summary": summary})
    content = []
    if reply.has("output_text", primary=True):
        content.append({"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []})
    if reply.has("refusal"):
        content.append({"type": "refusal", "refusal": reply.text})
    if content:
        items.append(
            {"id": "msg_fake_0", "type": "message", "status": "completed", "role": "assistant", "content": content}
        )
    if reply.has("function_call_arguments"):
        items.append(
            {
                "id": "fc_fake_0",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_fake_0",
                "name": TOOL_NAME,
                "arguments": _tool_arguments(reply),
            }
        )
    return items


def _response(
    req: dict[str, Any], model: str, output: list[dict[str, Any]], status: str, reply: Reply
) -> dict[str, Any]:
    p, c = _prompt_tokens(req), tokens(reply.text)
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": req.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": req.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": p,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": c,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": p + c,
        }
        if status == "completed"
        else None,
        "user": None,
        "metadata": {},
    }


def _responses_stream(
    req: dict[str, Any], model: str, items: list[dict[str, Any]], final: dict[str, Any], reply: Reply
) -> list[bytes]:
    events: list[bytes] = []

    def emit(kind: str, **data: Any) -> None:
        events.append(sse_event(kind, {"type": kind, "sequence_number": len(events), **data}))

    emit("response.created", response=_response(req, model, [], "in_progress", reply))
    emit("response.in_progress", response=_response(req, model, [], "in_progress", reply))
    for index, item in enumerate(items):
        pending = {**item, "status": "in_progress"} if "status" in item else dict(item)
        at = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**pending, "summary": []})
            part = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", **at, summary_index=0, part=part)
            for piece in reply.pieces():
                emit("response.reasoning_summary_text.delta", **at, summary_index=0, delta=piece)
            emit("response.reasoning_summary_text.done", **at, summary_index=0, text=reply.text)
            done_part = {"type": "summary_text", "text": reply.text}
            emit("response.reasoning_summary_part.done", **at, summary_index=0, part=done_part)
        elif item["type"] == "message":
            emit("response.output_item.added", output_index=index, item={**pending, "content": []})
            for c_index, part in enumerate(item["content"]):
                at_part = {**at, "content_index": c_index}
                empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                if part["type"] == "refusal":
                    empty = {"type": "refusal", "refusal": ""}
                emit("response.content_part.added", **at_part, part=empty)
                if part["type"] == "refusal":
                    for piece in reply.pieces():
                        emit("response.refusal.delta", **at_part, delta=piece)
                    emit("response.refusal.done", **at_part, refusal=reply.text)
                else:
                    for piece in reply.pieces():
                        emit("response.output_text.delta", **at_part, delta=piece, logprobs=[])
                    emit("response.output_text.done", **at_part, text=reply.text, logprobs=[])
                emit("response.content_part.done", **at_part, part=part)
        else:
            emit("response.output_item.added", output_index=index, item={**pending, "arguments": ""})
            for piece in reply.pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", **at, delta=piece)
            emit("response.function_call_arguments.done", **at, arguments=item["arguments"])
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=final)
    return events


# --- embeddings, images, audio, moderations, rerank ------------------------------------------------


def embeddings(req: dict[str, Any], reply: Reply) -> Answer:
    raw = req.get("input", "")
    inputs = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    size = int(req.get("dimensions") or 8)
    data = []
    for index, item in enumerate(inputs):
        seed = len(json.dumps(item))
        vector = [round(((seed * (i + 1)) % 97) / 97.0, 6) for i in range(size)]
        value: Any = vector
        if req.get("encoding_format") == "base64":
            value = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    p = tokens(json.dumps(raw))
    usage = {"prompt_tokens": p, "total_tokens": p}
    return json_answer({"object": "list", "data": data, "model": str(req.get("model", "")), "usage": usage})


def images(fields: dict[str, Any], reply: Reply, base_url: str) -> Answer:
    count = int(fields.get("n") or 1)
    b64 = fields.get("response_format") == "b64_json"
    data = []
    for index in range(count):
        item: dict[str, Any] = (
            {"b64_json": base64.b64encode(PNG_1X1).decode()} if b64 else {"url": f"{base_url}/images/fake-{index}.png"}
        )
        if reply.has("revised_prompt", primary=True):
            item["revised_prompt"] = reply.text
        data.append(item)
    usage = {
        "input_tokens": tokens(str(fields.get("prompt", ""))),
        "input_tokens_details": {"image_tokens": 0, "text_tokens": tokens(str(fields.get("prompt", "")))},
        "output_tokens": 16 * count,
        "total_tokens": tokens(str(fields.get("prompt", ""))) + 16 * count,
    }
    return json_answer({"created": int(time.time()), "data": data, "usage": usage})


def speech(req: dict[str, Any]) -> Answer:
    """A short WAV of silence; the content type follows `response_format` (default mp3)."""
    samples = b"\x00\x00" * 800
    wav = (
        b"RIFF"
        + struct.pack("<I", 36 + len(samples))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )
    kinds = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac"}
    kinds["pcm"] = "audio/pcm"
    return Answer(200, kinds.get(str(req.get("response_format") or "mp3"), "audio/mpeg"), wav)


def transcription(fields: dict[str, Any], reply: Reply) -> Answer:
    text = reply.text if reply.has("text", primary=True) else ""
    fmt = str(fields.get("response_format") or "json")
    if str(fields.get("stream", "")).lower() == "true":
        chunks = [sse_data({"type": "transcript.text.delta", "delta": piece}) for piece in reply.pieces(text)]
        chunks.append(sse_data({"type": "transcript.text.done", "text": text}))
        return Answer(200, "text/event-stream", chunks=chunks)
    if fmt == "text":
        return Answer(200, "text/plain; charset=utf-8", f"{text}\n".encode())
    if fmt == "srt":
        return Answer(200, "text/plain; charset=utf-8", f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n".encode())
    if fmt == "vtt":
        return Answer(200, "text/plain; charset=utf-8", f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n".encode())
    if fmt == "verbose_json":
        segment = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 1.0,
            "text": text,
            "tokens": [50364, 2425],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01,
        }
        verbose = {"task": "transcribe", "language": "english", "duration": 1.0, "text": text, "segments": [segment]}
        words = [{"word": w, "start": 0.0, "end": 1.0} for w in text.split()]
        if words:
            verbose["words"] = words
        return json_answer(verbose)
    return json_answer({"text": text, "usage": {"type": "duration", "seconds": 1}})


_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def moderations(req: dict[str, Any]) -> Answer:
    raw = req.get("input", "")
    inputs = raw if isinstance(raw, list) else [raw]
    results = [
        {
            "flagged": False,
            "categories": dict.fromkeys(_MODERATION_CATEGORIES, False),
            "category_scores": dict.fromkeys(_MODERATION_CATEGORIES, 0.0001),
            "category_applied_input_types": {c: ["text"] for c in _MODERATION_CATEGORIES},
        }
        for _ in inputs
    ]
    return json_answer({"id": "modr-fake", "model": str(req.get("model", "")), "results": results})


def rerank(req: dict[str, Any], reply: Reply) -> Answer:
    """Cohere's /v1/rerank and /v2/rerank answer (what LiteLLM's cohere/ provider parses)."""
    documents = req.get("documents") or []
    top_n = int(req.get("top_n") or len(documents))
    results = []
    for index, document in enumerate(documents[:top_n]):
        result: dict[str, Any] = {"index": index, "relevance_score": round(1.0 - index / (len(documents) + 1), 4)}
        if req.get("return_documents"):
            text = document.get("text") if isinstance(document, dict) else document
            result["document"] = {"text": reply.text if reply.has("document_text") else text}
        results.append(result)
    meta = {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}
    return json_answer({"id": "rerank-fake", "results": results, "meta": meta})


# --- files and batches -----------------------------------------------------------------------------


class FileStore:
    """Uploaded files and created batches, in memory; a batch is done when first retrieved, its
    output file holding one chat completion with the reply per input line."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def add_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        file_id = f"file-fake{len(self.files) + 1}"
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = meta
        self.contents[file_id] = content
        return meta

    def create_batch(self, req: dict[str, Any]) -> Answer:
        input_id = str(req.get("input_file_id", ""))
        if input_id not in self.files:
            return error(404, f"No such File object: {input_id}")
        lines = [line for line in self.contents[input_id].splitlines() if line.strip()]
        now = int(time.time())
        batch = {
            "id": f"batch_fake{len(self.batches) + 1}",
            "object": "batch",
            "endpoint": req.get("endpoint", "/v1/chat/completions"),
            "errors": None,
            "input_file_id": input_id,
            "completion_window": req.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": req.get("metadata") or {},
        }
        self.batches[batch["id"]] = batch
        return json_answer(batch)

    def retrieve_batch(self, batch_id: str, reply: Reply) -> Answer:
        batch = self.batches.get(batch_id)
        if batch is None:
            return error(404, f"No such batch: {batch_id}")
        if batch["status"] == "validating":
            out = []
            for line in self.contents[batch["input_file_id"]].splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                body = json.loads(chat(record.get("body") or {}, reply).body)
                response = {"status_code": 200, "request_id": "req_fake", "body": body}
                out.append({"id": "batch_req_fake", "custom_id": record.get("custom_id"), "response": response})
            content = b"".join(dumps(item) + b"\n" for item in out)
            output = self.add_file("batch_output.jsonl", "batch_output", content)
            now = int(time.time())
            batch.update(
                status="completed",
                output_file_id=output["id"],
                in_progress_at=now,
                finalizing_at=now,
                completed_at=now,
                request_counts={"total": len(out), "completed": len(out), "failed": 0},
            )
        return json_answer(batch)

    def cancel_batch(self, batch_id: str) -> Answer:
        batch = self.batches.get(batch_id)
        if batch is None:
            return error(404, f"No such batch: {batch_id}")
        batch.update(status="cancelled", cancelled_at=int(time.time()))
        return json_answer(batch)

    def file_content(self, file_id: str) -> Answer:
        if file_id not in self.contents:
            return error(404, f"No such File object: {file_id}")
        return Answer(200, "application/octet-stream", self.contents[file_id])

    def list_files(self) -> Answer:
        return json_answer({"object": "list", "data": list(self.files.values()), "has_more": False})

    def delete_file(self, file_id: str) -> Answer:
        self.files.pop(file_id, None)
        self.contents.pop(file_id, None)
        return json_answer({"id": file_id, "object": "file", "deleted": True})

    def list_batches(self) -> Answer:
        data = list(self.batches.values())
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return json_answer({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False})
