"""The fake model provider for the integration tests and the benchmark: every upstream API LiteLLM
1.106.2 proxies, with its real response shape and stream format (the code is in fake_upstream/).

Raw asyncio HTTP/1.1 with keep-alive, so it costs ~0.05 ms of CPU per answer and does not skew the
benchmark. Run: `python tests/integration/fake_provider.py --port 0` (prints `listening <port>`).
Paths are matched on their ending, so `/v1/...` and `/...` both work.

Provider paths (POST unless said):
  /v1/chat/completions     JSON or SSE (content, reasoning_content, refusal, tool_calls deltas, usage chunk)
  /v1/completions          choices[].text, one choice per prompt of a list; SSE
  /v1/responses            output items (reasoning, message/output_text|refusal, function_call); SSE events
  /v1/messages             Anthropic content blocks (thinking, text, tool_use); its SSE events
  /v1/embeddings           float or base64 (`encoding_format`), input string, list, token array(s)
  /v1/images/generations   url or b64_json (`response_format`); /v1/images/edits (multipart) the same
  /v1/audio/speech         WAV bytes; /v1/audio/transcriptions|translations (multipart):
                           json, text, srt, vtt, verbose_json; `stream=true` SSE transcript events
  /v1/moderations          OpenAI results; /v1/rerank and /v2/rerank: Cohere's shape
  /v1/files                upload (multipart), GET list, GET /{id}, GET /{id}/content, DELETE /{id}
  /v1/batches              create, GET /{id} (done on first look: output file of chat completions), cancel
  /mcp                     MCP streamable HTTP: initialize, notifications/initialized, ping, tools/list,
                           tools/call (tools `lookup`, `echo`); GET 405, DELETE 200
  /a2a                     A2A agent: GET /a2a/.well-known/agent-card.json (and agent.json);
                           JSON-RPC message/send (a Message or a Task), message/stream (SSE), tasks/get
  GET /v1/models, /healthz, /readyz

Control (JSON bodies):
  POST /_control  any subset of
                  {"mode": "ok"|"fail"|"hang"|"bad_request", "reply": "...", "reply_in": ["primary"],
                   "ready": true, "chunk_chars": 8, "record": true, "delay_s": 0, "mcp_sse": false}
                  answers the resulting state. `reply_in` names the answer fields the reply goes into
                  ("primary" = each endpoint's main text field; a field not named stays empty):
                  chat: content, content_parts, reasoning_content, refusal, tool_call_arguments;
                  completions: text; responses: output_text, refusal, reasoning, function_call_arguments;
                  messages: text, thinking, tool_use_input; images: revised_prompt; transcriptions: text;
                  rerank: document_text; MCP: tool_result_text, structured_content;
                  A2A: message_text, artifact_text, status_message.
  POST /_script   {"path": "/v1/chat/completions" (or "*"), "times": 1, "status": 200,
                   "headers": [["name", "value"], ...], "reason": "OK",
                   "body": "text" | "body_b64": "...", "repeat": 1,
                   "chunks": ["raw chunk", ...] | "chunks_b64": [...], "chunk_delay_s": 0,
                   "raw_b64": "the whole response, status line included"}
                  queues an exact answer for the next `times` requests on that path, sent as given:
                  chunks each as one HTTP chunk (no framing added inside them), no content-type unless
                  given; the request is still recorded.
  GET  /_requests the recorded requests: [{"method", "path", "query", "headers", "body", "files"?}];
                  body is the parsed JSON (a string when not JSON), for multipart the form fields, with
                  "files": [{"field", "filename", "content_type", "size", "content" | "content_b64"}]
  GET  /_inflight {"now": provider requests being answered, "peak": the most at once since the reset}
  POST /_reset    clear recordings, scripts, files and batches; restore the defaults
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by file path (tests/runtime)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_upstream.server import DEFAULT_REPLY, FakeProvider, _serve_connection, serve

__all__ = ["DEFAULT_REPLY", "FakeProvider", "_serve_connection", "main", "serve"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
