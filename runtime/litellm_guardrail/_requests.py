"""What a LiteLLM call sends upstream, as the prompt policy reads it: the endpoint a call type
belongs to, and the API's own fields of LiteLLM's `data` (never LiteLLM's bookkeeping, which holds
the client's key), read with the endpoint's reader. File objects LiteLLM hands over (image edits,
transcriptions) are listed as unreadable content of their kind.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from litellm.types.utils import TRUSTED_CALLBACK_VARS_FIELD, StandardCallbackDynamicParams

from runtime.endpoints import ENDPOINTS, Endpoint, Reading, Text, Unreadable, prompt_input, read_form, read_request

__all__ = ["CALL_TYPES", "LITELLM_KEYS", "api_body", "endpoint_for", "is_batch_record", "request_input"]

# LiteLLM's call types (litellm.types.utils.CallTypes) -> the endpoint whose request they carry.
CALL_TYPES: dict[str, str] = {
    **dict.fromkeys(("completion", "acompletion"), "chat"),
    **dict.fromkeys(("text_completion", "atext_completion"), "completions"),
    **dict.fromkeys(("responses", "aresponses", "alist_input_items"), "responses"),
    **dict.fromkeys(("anthropic_messages", "aanthropic_messages"), "messages"),
    **dict.fromkeys(("embedding", "aembedding"), "embeddings"),
    **dict.fromkeys(("image_generation", "aimage_generation"), "images_generations"),
    **dict.fromkeys(("image_edit", "aimage_edit"), "images_edits"),
    **dict.fromkeys(("speech", "aspeech"), "audio_speech"),
    **dict.fromkeys(("transcription", "atranscription"), "audio_transcriptions"),
    **dict.fromkeys(("moderation", "amoderation"), "moderations"),
    **dict.fromkeys(("rerank", "arerank"), "rerank"),
    **dict.fromkeys(
        (
            *("create_file", "acreate_file", "file_retrieve", "afile_retrieve", "file_content", "afile_content"),
            *("file_delete", "afile_delete", "file_list", "afile_list"),
        ),
        "files",
    ),
    **dict.fromkeys(
        (
            *("create_batch", "acreate_batch", "retrieve_batch", "aretrieve_batch"),
            *("cancel_batch", "acancel_batch", "list_batches", "alist_batches"),
        ),
        "batches",
    ),
    **dict.fromkeys(("call_mcp_tool", "list_mcp_tools"), "mcp"),
    **dict.fromkeys(("send_message", "asend_message"), "a2a"),
}

# What LiteLLM itself puts into `data` besides the API's fields. None of it is sent to the provider
# as content, and some of it is secret: proxy_server_request holds the client's headers and
# secret_fields the raw Authorization header. Sources (LiteLLM 1.106.2, under litellm/proxy/):
# litellm_pre_call_utils.py:add_litellm_data_to_request and
# LiteLLMProxyRequestSetup.add_litellm_data_for_backend_llm_call (LitellmDataForBackendLLMCall),
# common_request_processing.py:common_processing_pre_call_logic, litellm/utils.py:function_setup.
LITELLM_KEYS: frozenset[str] = frozenset(
    {
        # bookkeeping of every call
        "litellm_call_id",
        "litellm_logging_obj",
        "litellm_trace_id",
        "litellm_session_id",
        "litellm_metadata",
        "proxy_server_request",
        "secret_fields",
        "standard_logging_object",
        "guardrail_to_apply",
        # credentials on their way to the provider (_TRANSPORT_ONLY_CREDENTIAL_KEYS) and the
        # provider settings LiteLLM takes from the client's headers or the key
        "api_key",
        "headers",
        "provider_specific_header",
        "organization",
        "api_version",
        # routing, retries, caching and logging, from the key, the team or LiteLLM's own headers
        "timeout",
        "stream_timeout",
        "num_retries",
        "client_side_timeout",
        "keepalive_seconds",
        "disable_fallbacks",
        "allowed_model_region",
        "ttl",
        "drop_params",
        "success_callback",
        "failure_callback",
        "litellm_disabled_callbacks",
        TRUSTED_CALLBACK_VARS_FIELD,
        # logging credentials a key or team passes per request (_CALLBACK_CREDENTIAL_KEYS)
        *StandardCallbackDynamicParams.__annotations__,
    }
)

# Keys LiteLLM adds for one endpoint only: the agent it routes an A2A call to
# (agent_endpoints/a2a_endpoints.py:invoke_agent_a2a); the A2A body itself names no model.
_ENDPOINT_KEYS: dict[str, frozenset[str]] = {"a2a": frozenset({"agent_id", "custom_llm_provider", "model"})}


def endpoint_for(call_type: str) -> Endpoint:
    """The endpoint a call type serves; a call type this table does not know is read as a
    document of any shape (every string a text), under its own name."""
    name = CALL_TYPES.get(str(call_type))
    return ENDPOINTS[name] if name is not None else Endpoint(str(call_type), str(call_type), None, ())


def is_batch_record(data: Mapping[str, Any]) -> bool:
    """A record of a batch input file, checked on its own before the upload (LiteLLM's
    openai_files_endpoints/batch_guardrails.py:_scan_record): only the record's body, no request
    around it, and metadata that is LiteLLM's, not the record's."""
    return "proxy_server_request" not in data


def api_body(endpoint: Endpoint, data: Mapping[str, Any]) -> dict[str, Any]:
    """The request as it goes upstream: `data` without LiteLLM's keys. `metadata` is the client's
    only on the routes where LiteLLM keeps its own in `litellm_metadata` (Responses, Anthropic
    messages, files, batches: there it is sent to the provider); elsewhere it is LiteLLM's bag
    (the client's metadata merged with the request's headers and the key's details) and LiteLLM
    does not send it upstream."""
    skip = LITELLM_KEYS | _ENDPOINT_KEYS.get(endpoint.name, frozenset())
    body = {k: v for k, v in data.items() if k not in skip}
    if "litellm_metadata" not in data or is_batch_record(data):
        # A batch record's metadata during LiteLLM's scan is its own bag too; the record's is
        # restored after the scan (openai_files_endpoints/batch_guardrails.py:_scan_record).
        body.pop("metadata", None)
    synthetic = [{"role": "user", "content": data.get("prompt")}]
    if endpoint.name == "images_generations" and body.get("messages") == synthetic:
        # LiteLLM adds the prompt as a chat message for guardrails and rebuilds the prompt from it
        # afterwards (image_endpoints/endpoints.py:image_generation): one text, read once.
        del body["messages"]
    return body


def request_input(endpoint: Endpoint, data: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt policy's input for a LiteLLM call's `data`."""
    body = api_body(endpoint, data)
    plain, opaque = _split_opaque(endpoint, body)
    reading = _read_form(endpoint, plain) if endpoint.body == "multipart" else read_request(endpoint, plain)
    reading.extend(opaque)
    return prompt_input(endpoint, plain, reading)


def _read_form(endpoint: Endpoint, body: Mapping[str, Any]) -> Reading:
    """A multipart request as LiteLLM parsed it: string fields (and lists of them) as the gateway
    reads a form; an uploaded file's name and type as texts. Numbers are not text."""
    fields: list[tuple[str, str]] = []
    enums = endpoint.multipart.enums if endpoint.multipart is not None else {}
    rest: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, str):
            fields.append((key, value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            name = f"{key}[]" if f"{key}[]" in enums else key
            fields += [(name, v) for v in value]
        elif isinstance(value, dict):
            rest[key] = value
    reading = read_form(endpoint, fields, [])
    upload = rest.pop("file", None)
    if endpoint.name == "files" and isinstance(upload, dict):
        reading.extend(_upload(upload, body.get("purpose")))
    if rest:
        reading.extend(read_request(endpoint, rest))
    return reading


def _upload(upload: Mapping[str, Any], purpose: Any) -> Reading:
    """POST /v1/files hands guardrails the upload's name, type and size, not its content
    (openai_files_endpoints/files_endpoints.py:create_file). A batch input's records are then
    checked one by one through the same pre-call chain; any other content cannot be read here."""
    out = Reading()
    for key in ("filename", "content_type"):
        if isinstance(upload.get(key), str):
            out.texts.append(Text(("file", key), upload[key]))
    if purpose != "batch":
        out.unreadable.append(Unreadable(("file",), "file"))
    return out


def _split_opaque(endpoint: Endpoint, body: Mapping[str, Any]) -> tuple[dict[str, Any], Reading]:
    """The body without what is not JSON (file objects), and those as unreadable content of the
    kind the endpoint's form says (their file names as texts)."""
    kinds = endpoint.multipart.files if endpoint.multipart is not None else {}
    opaque = Reading()
    plain: dict[str, Any] = {}
    for key, value in body.items():
        items = value if isinstance(value, list) and any(_is_file(v) for v in value) else None
        if items is None and not _is_file(value):
            plain[key] = value
            continue
        kind = kinds.get(key) or kinds.get(f"{key}[]") or "file"
        for i, item in enumerate(items if items is not None else [value]):
            path = (key, i) if items is not None else (key,)
            opaque.unreadable.append(Unreadable(path, kind))
            name = getattr(item, "name", None) or getattr(item, "filename", None)
            if isinstance(name, str):
                opaque.texts.append(Text((*path, "filename"), name))
    return plain, opaque


def _is_file(value: Any) -> bool:
    """Content LiteLLM passes as a file: bytes, an open file (BytesIO, an upload), or the
    (name, content, type) tuples of its multipart handling."""
    if isinstance(value, bytes | bytearray | io.IOBase):
        return True
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], bytes | bytearray | io.IOBase):
        return True
    return hasattr(value, "read") and callable(value.read)
