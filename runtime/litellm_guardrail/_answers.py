"""A whole (not streamed) answer inside LiteLLM: which endpoint's answer a response object is, its
texts as the output policy reads them, and the verdict's redactions written back into the object
LiteLLM returns to the client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from litellm.types.agents import LiteLLMSendMessageResponse
from litellm.types.llms.openai import OpenAIFileObject, ResponsesAPIResponse
from litellm.types.utils import (
    EmbeddingResponse,
    ImageResponse,
    LiteLLMBatch,
    ModelResponse,
    TextCompletionResponse,
)

from runtime.endpoints import ENDPOINTS, Endpoint, StreamFormat, Text, read_answer
from runtime.endpoints._walk import Shape
from runtime.litellm_guardrail._documents import json_form, set_text, text_at
from runtime.policy.decision import Verdict, redact_texts

__all__ = ["ANY_ANSWER", "NO_DELTAS", "answer_endpoint", "read_object", "redact_object"]

# The response types LiteLLM hands async_post_call_success_hook (tests/integration/
# LITELLM_ENDPOINTS.md), by the endpoint whose answer they are.
_RESPONSE_TYPES: tuple[tuple[type[Any], str], ...] = (
    (ModelResponse, "chat"),
    (TextCompletionResponse, "completions"),
    (ResponsesAPIResponse, "responses"),
    (EmbeddingResponse, "embeddings"),
    (ImageResponse, "images_generations"),
    (OpenAIFileObject, "files"),
    (LiteLLMBatch, "batches"),
    (LiteLLMSendMessageResponse, "a2a"),
)
# An answer (or a stream) of a type not listed: every string of it is read whole, none is known to
# be an enum value or to arrive in pieces.
NO_DELTAS = StreamFormat(deltas=lambda _: [], closes=lambda _: (), shape=Shape())
ANY_ANSWER = Endpoint("answer", "an answer of another endpoint", None, (), stream=NO_DELTAS)


def answer_endpoint(response: Any, data: Mapping[str, Any]) -> Endpoint:
    for kind, name in _RESPONSE_TYPES:
        if isinstance(response, kind):
            if name == "images_generations" and "image" in data:
                return ENDPOINTS["images_edits"]  # the same answer; the request carried images
            return ENDPOINTS[name]
    if isinstance(response, Mapping) and response.get("type") == "message":
        return ENDPOINTS["messages"]  # Anthropic's answer is a plain dict inside LiteLLM
    return ANY_ANSWER


def read_object(endpoint: Endpoint, response: Any) -> list[Text]:
    """Every text of the answer's JSON form (raises Unparsable when it has none)."""
    return read_answer(endpoint, json_form(response)).texts


def redact_object(response: Any, texts: Sequence[Text], verdict: Verdict) -> None:
    """Write the verdict's redactions into the response object and check that its JSON form now
    says exactly that. Raises ValueError (and friends) when a redaction cannot be applied there:
    the caller withholds the answer."""
    by_field = {t.field: t for t in texts}
    new = redact_texts({name: t.text for name, t in by_field.items()}, verdict.redactions)
    for name, text in new.items():
        if by_field[name].is_key:
            raise ValueError("a key cannot be redacted")
        set_text(response, by_field[name].path, text)
    doc = json_form(response)
    for name, text in new.items():
        if text_at(doc, by_field[name].path) != text:
            raise ValueError("the redaction did not reach the answer")
