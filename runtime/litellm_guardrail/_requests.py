"""What a LiteLLM call sends upstream, as the prompt policy reads it: the endpoint a call type
belongs to, and the API's own fields of LiteLLM's `data` (never LiteLLM's bookkeeping, which holds
the client's key), read with the endpoint's reader. File objects LiteLLM hands over (image edits,
transcriptions) are listed as unreadable content of their kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from litellm.types.proxy.litellm_pre_call_utils import RedactedDict
from litellm.types.utils import TRUSTED_CALLBACK_VARS_FIELD, StandardCallbackDynamicParams
from pydantic import BaseModel

from runtime.endpoints import (
    ENDPOINTS,
    Endpoint,
    Path,
    Reading,
    Text,
    Unreadable,
    prompt_input,
    read_form,
    read_request,
)

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

# What LiteLLM itself puts into `data` besides the API's fields, on every online call: values the
# client cannot set (LiteLLM strips them from the body first, or overwrites them) and that are not
# sent to the provider as content. Some are secret: proxy_server_request holds the client's headers,
# secret_fields the raw Authorization header, api_key the client's provider key when LiteLLM
# forwards it (forward_llm_provider_auth_headers). Sources, LiteLLM 1.106.2 under litellm/proxy/:
# litellm_pre_call_utils.py:add_litellm_data_to_request (_UNTRUSTED_ROOT_CONTROL_FIELDS,
# _TRANSPORT_ONLY_CREDENTIAL_KEYS, _strip_client_callback_credentials),
# common_request_processing.py:common_processing_pre_call_logic, litellm/utils.py:function_setup.
# Everything else is read, also what LiteLLM may fill in from the client's headers but the client
# can set in the body as well and LiteLLM sends upstream (`headers`, `extra_headers`, `user`).
LITELLM_KEYS: frozenset[str] = frozenset(
    {
        "litellm_call_id",
        "litellm_logging_obj",
        "litellm_trace_id",
        "litellm_session_id",
        "litellm_metadata",
        "proxy_server_request",
        "secret_fields",
        "standard_logging_object",
        "guardrail_to_apply",
        "api_key",
        "provider_specific_header",
        "success_callback",
        "failure_callback",
        "litellm_disabled_callbacks",
        TRUSTED_CALLBACK_VARS_FIELD,
        # logging credentials of the key or team (_CALLBACK_CREDENTIAL_KEYS)
        *StandardCallbackDynamicParams.__annotations__,
    }
)

# Keys LiteLLM sets for one endpoint only: the agent it routes an A2A call to, overwriting the body's
# (agent_endpoints/a2a_endpoints.py:invoke_agent_a2a); the A2A body itself names no model.
_ENDPOINT_KEYS: dict[str, frozenset[str]] = {"a2a": frozenset({"agent_id", "custom_llm_provider", "model"})}

# A header sent upstream whose value is a credential, not content (the gateway never reads the
# Authorization it receives either).
_CREDENTIAL_HEADER = re.compile(r"^(authorization|proxy-authorization|cookie|(x-)?([a-z0-9]+-)*api-key)$", re.I)


def endpoint_for(call_type: str) -> Endpoint:
    """The endpoint a call type serves; a call type this table does not know is read as a
    document of any shape (every string a text), under its own name."""
    name = CALL_TYPES.get(str(call_type))
    return ENDPOINTS[name] if name is not None else Endpoint(str(call_type), str(call_type), None, ())


def is_batch_record(data: Mapping[str, Any]) -> bool:
    """A record of a batch input file, checked on its own before the upload
    (openai_files_endpoints/batch_guardrails.py:_scan_record): the record's body with LiteLLM's
    metadata bags, no request around it. An online call carries LiteLLM's secret_fields, whose raw
    headers are a RedactedDict: no JSON body (a record's included) can forge that."""
    secret = data.get("secret_fields")
    return not (isinstance(secret, Mapping) and isinstance(secret.get("raw_headers"), RedactedDict))


def api_body(endpoint: Endpoint, data: Mapping[str, Any]) -> dict[str, Any]:
    """The request as it goes upstream: `data` without LiteLLM's keys. `metadata` is the client's
    only on the routes where LiteLLM keeps its own in `litellm_metadata` (Responses, Anthropic
    messages, files, batches: there it is sent to the provider); elsewhere it is LiteLLM's bag
    (the client's metadata merged with the request's headers and the key's details), which LiteLLM
    does not send upstream. A batch record is the client's JSON as uploaded, but for the two bags
    LiteLLM's scan puts in place of the record's own (restored after the scan, never shown to
    guardrails)."""
    if is_batch_record(data):
        return {k: v for k, v in data.items() if k not in ("metadata", "litellm_metadata")}
    skip = LITELLM_KEYS | _ENDPOINT_KEYS.get(endpoint.name, frozenset())
    body = {k: v for k, v in data.items() if k not in skip}
    if "litellm_metadata" not in data:
        body.pop("metadata", None)
    for key in ("headers", "extra_headers"):
        if isinstance(body.get(key), Mapping):
            sent = {name: value for name, value in body[key].items() if not _CREDENTIAL_HEADER.match(str(name))}
            if sent:
                body[key] = sent
            else:
                del body[key]
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
    """The body as JSON without what is not JSON (file objects, anywhere in it), and that as
    unreadable content of the kind the endpoint's form names for its field (their file names as
    texts). A pydantic model is read as the JSON it is sent as."""
    kinds = endpoint.multipart.files if endpoint.multipart is not None else {}
    opaque = Reading()

    def plain(value: Any, path: Path) -> Any:
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", exclude_none=True)
        if isinstance(value, Mapping):
            pairs = ((str(k), plain(v, (*path, str(k)))) for k, v in value.items())
            return {k: v for k, v in pairs if v is not _NOT_JSON}
        if isinstance(value, list | tuple):
            return [v for v in (plain(v, (*path, i)) for i, v in enumerate(value)) if v is not _NOT_JSON]
        if value is None or isinstance(value, str | int | float | bool):
            return value
        top = str(path[0]) if path else ""
        opaque.unreadable.append(Unreadable(path, kinds.get(top) or kinds.get(f"{top}[]") or "file"))
        name = getattr(value, "name", None) or getattr(value, "filename", None)
        if isinstance(name, str):
            opaque.texts.append(Text((*path, "filename"), name))
        return _NOT_JSON

    return {k: v for k, v in ((k, plain(v, (k,))) for k, v in body.items()) if v is not _NOT_JSON}, opaque


_NOT_JSON = object()
