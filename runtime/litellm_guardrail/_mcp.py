"""PolicyMcpGuardrail: the policies on LiteLLM's MCP gateway. LiteLLM runs no `pre_call` guardrail on
MCP, and exceptions of the native post-MCP hook are logged and dropped, so only `apply_guardrail`
(modes `pre_mcp_call`, `post_mcp_call`) can refuse a tool call or withhold a tool's result
(tests/integration/LITELLM_ENDPOINTS.md, "Notes").

LiteLLM calls `apply_guardrail` (proxy/_experimental/mcp_server/guardrail_translation/handler.py):
  - for a `tools/call`, with the call's data: the prompt policy reads the tool's name and its
    arguments, as the gateway reads the JSON-RPC request;
  - for each tool `tools/list` lists, with its description and the descriptions in its schema, and
    for a tool's result, with its texts: the output policy reads those, as the gateway reads the
    server's answers. Redactions are returned as the masked texts LiteLLM writes back; a refused
    tool is left out of the list, a refused call or result is answered as a tool error.
"""

from __future__ import annotations

from typing import Any, Literal

from litellm.types.utils import GenericGuardrailAPIInputs

from runtime.endpoints import ENDPOINTS, Text, answer_input, prompt_input
from runtime.errors import ApiError
from runtime.litellm_guardrail._policies import BundlePolicies
from runtime.litellm_guardrail._refusals import refusal
from runtime.policy.decision import blocked_error, redact_texts

__all__ = ["PolicyMcpGuardrail"]

_MCP = ENDPOINTS["mcp"]


class PolicyMcpGuardrail(BundlePolicies):
    """The compiled policies on MCP tool calls and results, through LiteLLM's unified guardrail
    interface. Register it with `mode: [pre_mcp_call, post_mcp_call]`."""

    leaf_hooks = ("apply_guardrail",)

    async def apply_guardrail(
        self,
        inputs: GenericGuardrailAPIInputs,
        request_data: dict[str, Any],
        input_type: Literal["request", "response"],
        logging_obj: Any = None,
    ) -> GenericGuardrailAPIInputs:
        try:
            if input_type == "request" and _is_tool_call(request_data):
                self._check_call(request_data)
                return inputs
            return self._check_server_texts(inputs, request_data)
        except ApiError as error:
            raise refusal(_MCP, error) from None

    def _check_call(self, data: dict[str, Any]) -> None:
        arguments = data.get("mcp_arguments")
        params = {"name": data.get("mcp_tool_name"), "arguments": arguments if arguments is not None else {}}
        verdict = self._decide("prompt", prompt_input(_MCP, {"method": "tools/call", "params": params}), data)
        if not verdict.passes:
            raise blocked_error(verdict)

    def _check_server_texts(self, inputs: GenericGuardrailAPIInputs, data: dict[str, Any]) -> GenericGuardrailAPIInputs:
        given = inputs.get("texts") or []
        texts = [Text(("texts", i), t) for i, t in enumerate(given) if isinstance(t, str)]
        if not texts:
            return inputs
        verdict = self._decide("output", answer_input(_MCP, texts, None), data, can_redact=True)
        if not verdict.passes:
            raise blocked_error(verdict)
        if verdict.action != "redact":
            return inputs
        try:
            new = redact_texts({t.field: t.text for t in texts}, verdict.redactions)
        except (LookupError, TypeError, ValueError):
            raise blocked_error(verdict) from None
        masked = list(given)
        for t in texts:
            masked[int(t.path[1])] = new.get(t.field, t.text)
        return {**inputs, "texts": masked}


def _is_tool_call(data: dict[str, Any]) -> bool:
    """A `tools/call` (MCPServerManager.pre_call_tool_check hands over the request's logging
    object) rather than the scan of a listed tool (tool_catalog_guard.py:_guarded_catalog_entry,
    which has none: what it scans is the server's description, not the client's request)."""
    return "litellm_logging_obj" in data
