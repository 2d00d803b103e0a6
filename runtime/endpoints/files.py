"""OpenAI files and batches (`/v1/files`, `/v1/batches`). An uploaded batch input (purpose `batch`)
is JSON lines, each a request of another endpoint: every line is read with that endpoint's reader
and judged on its own (one line, one conversation), so a violation names its line. Other uploads
are read as text when they are text, else they are a file no policy can read. Downloads of a
file's content are read the same way (a batch's output holds the model's answers)."""

from __future__ import annotations

from runtime.endpoints._types import Endpoint, Multipart, Route
from runtime.endpoints._walk import shape

__all__ = ["BATCHES", "BATCH_URLS", "FILES"]

_PURPOSES = ("batch", "fine-tune", "assistants", "vision", "user_data", "evals")
# The endpoints a batch line may name (OpenAI's batch API), by URL.
BATCH_URLS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/moderations": "moderations",
}

FILES = Endpoint(
    name="files",
    title="files (batch inputs and outputs)",
    capability=None,
    routes=(
        Route("POST", "/v1/files"),
        Route("GET", "/v1/files", kind="read"),
        Route("GET", "/v1/files/{file_id}", kind="read"),
        Route("DELETE", "/v1/files/{file_id}", kind="read"),
        Route("GET", "/v1/files/{file_id}/content", kind="read"),
    ),
    body="multipart",
    multipart=Multipart(
        enums={"purpose": frozenset(_PURPOSES)},
        files={"file": "file"},
        jsonl_when=lambda form: form.get("purpose") == "batch",
    ),
    answer=shape(
        {
            "object": {"enum": ("file", "list")},
            "purpose": {"enum": _PURPOSES},
            "status": {"enum": ("uploaded", "processed", "error")},
            "data[].object": {"enum": ("file",)},
            "data[].purpose": {"enum": _PURPOSES},
            "data[].status": {"enum": ("uploaded", "processed", "error")},
        }
    ),
    model_field=None,
)

# A line of a batch input: {"custom_id", "method": "POST", "url": <one of BATCH_URLS>, "body": {...}}
LINE = shape({"method": {"enum": ("POST",)}, "url": {"enum": tuple(BATCH_URLS)}})

_BATCH_STATUS = ("validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled")

BATCHES = Endpoint(
    name="batches",
    title="batches",
    capability=None,
    routes=(
        Route("POST", "/v1/batches"),
        Route("GET", "/v1/batches", kind="read"),
        Route("GET", "/v1/batches/{batch_id}", kind="read"),
        Route("POST", "/v1/batches/{batch_id}/cancel", kind="read"),
    ),
    request=shape({"endpoint": {"enum": tuple(BATCH_URLS)}, "completion_window": {"enum": ("24h",)}}),
    answer=shape(
        {
            "object": {"enum": ("batch", "list")},
            "endpoint": {"enum": tuple(BATCH_URLS)},
            "status": {"enum": _BATCH_STATUS},
            "completion_window": {"enum": ("24h",)},
            "data[].object": {"enum": ("batch",)},
            "data[].endpoint": {"enum": tuple(BATCH_URLS)},
            "data[].status": {"enum": _BATCH_STATUS},
            "data[].completion_window": {"enum": ("24h",)},
        }
    ),
    model_field=None,
)
