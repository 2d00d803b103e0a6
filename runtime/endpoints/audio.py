"""OpenAI audio: speech (`/v1/audio/speech`, the input text through the prompt policy; the answer
is audio, which no policy reads) and transcriptions (`/v1/audio/transcriptions`, a multipart upload
of audio; the transcript, as JSON or plain text or subtitles, goes through the output policy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.endpoints._types import Channel, Endpoint, Multipart, Route, StreamFormat
from runtime.endpoints._walk import Path, shape

__all__ = ["SPEECH", "TRANSCRIPTIONS"]

_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse")
_AUDIO_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
_TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")

SPEECH = Endpoint(
    name="audio_speech",
    title="text to speech",
    capability="speech",
    routes=(Route("POST", "/v1/audio/speech"),),
    request=shape(
        {
            "model": {"skip": True},
            "voice": {"enum": _VOICES},
            "response_format": {"enum": _AUDIO_FORMATS},
            "stream_format": {"enum": ("audio", "sse")},
        }
    ),
    answer=shape({"type": {"enum": ("speech.audio.delta", "speech.audio.done")}, "audio": {"binary": "audio"}}),
    # stream_format "sse" sends audio in events: audio, not text, so the answer is passed on whole
    streams=lambda _: False,
)

_TRANSCRIPT_EVENT = shape({"type": {"enum": ("transcript.text.delta", "transcript.text.done")}})


def _deltas(event: Mapping[str, Any]) -> list[tuple[Channel, Path]]:
    if event.get("type") == "transcript.text.delta" and isinstance(event.get("delta"), str):
        return [(("text",), ("delta",))]
    return []


def _closes(event: Mapping[str, Any]) -> tuple[Channel, ...]:
    return (("text",),) if event.get("type") == "transcript.text.done" else ()


TRANSCRIPTIONS = Endpoint(
    name="audio_transcriptions",
    title="speech to text",
    capability="transcription",
    routes=(Route("POST", "/v1/audio/transcriptions"),),
    body="multipart",
    multipart=Multipart(
        enums={
            "response_format": frozenset(_TRANSCRIPT_FORMATS),
            "timestamp_granularities[]": frozenset(("word", "segment")),
            "stream": frozenset(("true", "false")),
        },
        files={"file": "audio"},
    ),
    answer=shape({"task": {"enum": ("transcribe",)}}),
    stream=StreamFormat(deltas=_deltas, closes=_closes, shape=_TRANSCRIPT_EVENT),
    streams=lambda form: form.get("stream") == "true",
)
