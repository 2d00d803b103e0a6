"""The server-sent events wire format (WHATWG HTML, "Server-sent events"): whole events out of a
stream's bytes. One parser for the gateway's stream filter, its reading of whole SSE answers and the
LiteLLM guardrail's reading of the event streams LiteLLM relays as bytes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseEvent", "parse_events"]


@dataclass(frozen=True)
class SseEvent:
    name: str | None
    data: str | None
    id: str | None


def parse_events(raw: bytes) -> tuple[list[SseEvent], bytes, bool]:
    """(whole events, the unfinished rest, whether a comment or an unknown field was dropped).
    Lines end with CRLF, LF or CR (the SSE rule); a CR at the very end waits for what follows.
    Split as bytes and decoded event by event, so a character cut between two chunks stays whole
    (the separators are ASCII, which never occurs inside a UTF-8 sequence)."""
    keep_cr = raw.endswith(b"\r")
    if keep_cr:
        raw = raw[:-1]
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    events: list[SseEvent] = []
    dropped = False
    while b"\n\n" in raw:
        block, raw = raw.split(b"\n\n", 1)
        name = event_id = None
        data: list[str] = []
        for line in block.decode("utf-8", errors="replace").split("\n"):
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data.append(value)
            elif key == "event":
                name = value
            elif key == "id":
                event_id = value
            elif key != "retry":
                dropped = dropped or bool(line)
        if data or name is not None or event_id is not None:
            events.append(SseEvent(name, "\n".join(data) if data else None, event_id))
    return events, raw + (b"\r" if keep_cr else b""), dropped
