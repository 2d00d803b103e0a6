"""Server-sent events pass-through with the output policy applied while the answer streams.

Text is held back until it has been checked: each choice keeps a pending buffer, and only the
part older than `hold` characters is released, after the policy has seen it together with a
little already-sent context. A secret split across chunks is therefore complete in the checked
window before any of it is sent, as long as it is shorter than `hold`. Released text leaves as
new chunks built from the upstream's own chunk (same id, model, created).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from runtime.gateway.enforce import Verdict, apply_redactions, blocked_error
from runtime.gateway.errors import GatewayError

__all__ = ["SseOutputFilter"]

_DONE = b"data: [DONE]\n\n"


class SseOutputFilter:
    def __init__(
        self,
        check: Callable[[str], Verdict],
        *,
        hold: int = 256,
        step: int = 256,
        context: int = 64,
        observe_only: bool = False,
    ) -> None:
        # observe_only: the output policy cannot change the stream (mode off or monitor), so
        # events pass at once and the windows are still checked, for the metrics only.
        self._observe_only = observe_only
        self._check = check
        self._hold = hold
        self._step = step
        self._context = context
        self._raw = b""
        self._pending: dict[int, str] = {}
        self._sent_tail: dict[int, str] = {}
        self._template: dict[str, Any] = {}
        self.stopped = False
        self.verdicts: list[Verdict] = []
        self.usage: dict[str, Any] | None = None
        self.redacted = False

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes from the upstream in, SSE events for the client out."""
        if self.stopped:
            return []
        self._raw += data.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        while not self.stopped and b"\n\n" in self._raw:
            event, self._raw = self._raw.split(b"\n\n", 1)
            if self._observe_only:
                self._observe(event)
                out.append(event + b"\n\n")
            else:
                out += self._on_event(event)
        return out

    def _observe(self, event: bytes) -> None:
        for line in event.split(b"\n"):
            if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
                continue
            try:
                chunk = json.loads(line[5:])
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                idx = int(choice.get("index", 0))
                text = (choice.get("delta") or {}).get("content")
                if isinstance(text, str) and text:
                    self._pending[idx] = self._pending.get(idx, "") + text
                if len(self._pending.get(idx, "")) >= self._hold + self._step or choice.get("finish_reason"):
                    self._watch(idx)

    def _watch(self, idx: int) -> None:
        pending = self._pending.pop(idx, "")
        if not pending:
            return
        tail = self._sent_tail.get(idx, "")
        # Nothing to enforce in these modes; a failed check is already counted where it failed.
        with contextlib.suppress(GatewayError):
            self.verdicts.append(self._check(tail + pending))
        self._sent_tail[idx] = (tail + pending)[-self._context :]

    def finish(self) -> list[bytes]:
        """The upstream ended; release what is still held (checked as final)."""
        if self.stopped:
            return []
        if self._observe_only:
            rest, self._raw = self._raw, b""
            if rest.strip():
                self._observe(rest)
            for idx in list(self._pending):
                self._watch(idx)
            return [rest] if rest.strip() else []
        out = []
        if self._raw.strip():
            out += self._on_event(self._raw)
            self._raw = b""
        for idx in list(self._pending):
            out += self._release(idx, final=True)
        return out

    def _on_event(self, event: bytes) -> list[bytes]:
        data_lines = [ln[5:].lstrip() for ln in event.split(b"\n") if ln.startswith(b"data:")]
        if not data_lines:
            return [event + b"\n\n"] if event.strip() else []
        data = b"\n".join(data_lines)
        if data.strip() == b"[DONE]":
            flushed: list[bytes] = []
            for idx in list(self._pending):
                flushed += self._release(idx, final=True)
            return flushed if self.stopped else [*flushed, _DONE]
        try:
            chunk = json.loads(data)
        except ValueError:
            return [event + b"\n\n"]
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            return [event + b"\n\n"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        self._template = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
        out: list[bytes] = []
        forward_choices = []
        for choice in chunk["choices"]:
            idx = int(choice.get("index", 0))
            delta = dict(choice.get("delta") or {})
            text = delta.pop("content", None)
            if isinstance(text, str) and text:
                self._pending[idx] = self._pending.get(idx, "") + text
                if len(self._pending[idx]) >= self._hold + self._step:
                    out += self._release(idx, final=False)
            if choice.get("finish_reason") is not None:
                out += self._release(idx, final=True)
            if self.stopped:
                return out
            if delta or choice.get("finish_reason") is not None:
                if "role" in delta:
                    delta.setdefault("content", "")
                forward_choices.append({**choice, "delta": delta})
        if forward_choices or chunk.get("usage") or not chunk["choices"]:
            forward = {**chunk, "choices": forward_choices}
            out.append(b"data: " + json.dumps(forward).encode() + b"\n\n")
        return out

    def _release(self, idx: int, *, final: bool) -> list[bytes]:
        pending = self._pending.get(idx, "")
        if not pending:
            return []
        tail = self._sent_tail.get(idx, "")
        try:
            verdict = self._check(tail + pending)
        except GatewayError as exc:  # fail mode closed: no decision, no more text
            return self._stop(exc)
        self.verdicts.append(verdict)
        if verdict.action == "block":
            return self._stop(blocked_error(verdict))
        cut = len(pending) if final else max(0, len(pending) - self._hold)
        spans = []
        if verdict.action == "redact":
            for r in verdict.redactions:
                start, end = int(r["start"]) - len(tail), int(r["end"]) - len(tail)
                if end <= 0:
                    continue  # inside text already sent (it was checked then)
                spans.append({**r, "start": max(0, start), "end": end})
            for s in spans:
                if s["start"] < cut < s["end"]:
                    cut = s["start"]  # never split a match: keep all of it for the next round
        released, rest = pending[:cut], pending[cut:]
        inside = [s for s in spans if s["end"] <= cut]
        try:
            text = apply_redactions(released, inside) if inside else released
        except ValueError:
            return self._stop(
                GatewayError(
                    502,
                    "the output policy's redaction did not fit the answer; it was withheld",
                    type_="policy_violation",
                    code="output_policy_error",
                )
            )
        self.redacted = self.redacted or bool(inside)
        self._pending[idx] = rest
        self._sent_tail[idx] = (tail + released)[-self._context :]
        if not text:
            return []
        chunk = {
            **self._template,
            "choices": [{"index": idx, "delta": {"content": text}, "finish_reason": None}],
        }
        return [b"data: " + json.dumps(chunk).encode() + b"\n\n"]

    def _stop(self, error: GatewayError) -> list[bytes]:
        self.stopped = True
        self._pending.clear()
        return [b"data: " + error.body() + b"\n\n"]
