"""PolicyBundleGuardrail: LiteLLM's lifecycle hooks for every endpoint LiteLLM serves, the prompt
policy before the call (`pre_call`) and the output policy on the answer (`post_call`), whole or
streamed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from runtime.endpoints import answer_input
from runtime.errors import ApiError, bad_answer
from runtime.litellm_guardrail._answers import answer_endpoint, read_object, redact_object
from runtime.litellm_guardrail._documents import Unparsable
from runtime.litellm_guardrail._policies import BundlePolicies, recorded_verdicts
from runtime.litellm_guardrail._refusals import refusal
from runtime.litellm_guardrail._requests import endpoint_for, is_batch_record, request_input
from runtime.litellm_guardrail._streams import AnswerStream
from runtime.policy.decision import blocked_error, decision_headers

__all__ = ["PolicyBundleGuardrail"]

class PolicyBundleGuardrail(BundlePolicies):
    """The prompt policy in `pre_call`, the output policy in `post_call`, on every call type.

    Native hooks only: a class that defines `apply_guardrail` is switched to LiteLLM's unified
    path for all hooks, which streams chat and messages before checking them
    (tests/integration/LITELLM_ENDPOINTS.md). MCP is PolicyMcpGuardrail's."""

    leaf_hooks = (
        "async_pre_call_hook",
        "async_post_call_success_hook",
        "async_post_call_streaming_iterator_hook",
        "async_post_call_response_headers_hook",
    )

    async def async_pre_call_hook(
        self,
        user_api_key_dict: Any,
        cache: Any,
        data: dict[str, Any],
        call_type: str,
    ) -> dict[str, Any]:
        endpoint = endpoint_for(call_type)
        earlier = recorded_verdicts(data)
        try:
            verdict = self._decide("prompt", request_input(endpoint, data), data)
            if not verdict.passes:
                raise blocked_error(verdict, earlier)
        except ApiError as error:
            if is_batch_record(data):
                # A batch input is refused whole, as the gateway does; LiteLLM cannot say which
                # line (its scan hands the guardrails the record's body only).
                error.message = f"a line of the batch input: {error.message}"
            raise refusal(endpoint, error) from None
        return data

    async def async_post_call_success_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
    ) -> Any:
        endpoint = answer_endpoint(response, data)
        model = str(data.get("model") or getattr(response, "model", "") or "")
        earlier = recorded_verdicts(data)
        try:
            try:
                texts = read_object(endpoint, response)
            except Unparsable:
                if self._output_cannot_act(model):
                    return response
                raise bad_answer(f"an answer the output policy cannot read ({type(response).__name__})") from None
            if not texts:
                return response
            verdict = self._decide("output", answer_input(endpoint, texts, model), data, can_redact=True)
            if not verdict.passes:
                raise blocked_error(verdict, earlier)
            if verdict.action == "redact":
                try:
                    redact_object(response, texts, verdict)
                except (LookupError, TypeError, ValueError):
                    # The policy saw other text than this object holds: withhold, never guess.
                    raise blocked_error(verdict, earlier) from None
        except ApiError as error:
            raise refusal(endpoint, error) from None
        return response

    async def async_post_call_streaming_iterator_hook(
        self,
        user_api_key_dict: Any,
        response: Any,
        request_data: dict[str, Any],
    ) -> AsyncGenerator[Any, None]:
        """In `enforce`, a streamed answer is held until the output policy has seen all of it
        (every string; delta pieces joined per channel), then released, redacted, or replaced by
        the API's error event (LiteLLM answers 200 and passes the event on, then `[DONE]`). A part
        that cannot be read is not passed on. In `monitor` or `off` the policy cannot change the
        answer, so items pass at once and the whole answer is checked afterwards, for the report."""
        model = str(request_data.get("model") or "")
        stream = AnswerStream()
        if self._output_cannot_act(model):
            async for item in response:
                with contextlib.suppress(Unparsable):  # observed only: nothing is withheld
                    stream.add(item)
                yield item
            with contextlib.suppress(Unparsable):
                stream.finish()
            with contextlib.suppress(ApiError):  # the answer is out; the verdict is reported
                self._check_stream(stream, model, request_data)
            return
        try:
            async for item in response:
                stream.add(item)
            stream.finish()
            self._check_stream(stream, model, request_data)
        except Unparsable:
            yield stream.error_item(bad_answer("a part of a stream the output policy cannot read"))
            return
        except ApiError as error:
            yield stream.error_item(error)
            return
        for item in stream.release():
            yield item

    def _check_stream(self, stream: AnswerStream, model: str, data: dict[str, Any]) -> None:
        texts = stream.texts()
        if not texts or stream.endpoint is None:
            return
        earlier = recorded_verdicts(data)
        verdict = self._decide("output", answer_input(stream.endpoint, texts, model), data, can_redact=True)
        if not verdict.passes:
            raise blocked_error(verdict, earlier)
        if verdict.action == "redact":
            try:
                stream.redact(verdict)
            except (LookupError, TypeError, ValueError):
                raise blocked_error(verdict, earlier) from None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        """The gateway's decision headers from every verdict recorded on this request; LiteLLM
        asks on answers and (response None) on the refusals it answers through
        handle_llm_api_exception. Both guardrail entries answer the same set."""
        verdicts = recorded_verdicts(data)
        if not verdicts:
            return None
        return {name.decode(): value.decode() for name, value in decision_headers(verdicts)}
