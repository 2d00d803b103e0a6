"""PolicyMcpGuardrail, called as LiteLLM's MCP gateway calls `apply_guardrail`
(proxy/_experimental/mcp_server/guardrail_translation/handler.py): a tool call's arguments through
the prompt policy, a tool's result and a listed tool's descriptions through the output policy,
redactions handed back as the masked texts LiteLLM writes back."""

from __future__ import annotations

from typing import Any

import pytest
from guardrail_fakes import REDACTED, SSN, FindingStore
from litellm.types.utils import GenericGuardrailAPIInputs

from runtime.endpoints import ENDPOINTS, prompt_input
from runtime.litellm_guardrail import PolicyMcpGuardrail, PolicyRefusal

pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")

TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "Looks a text up.", "parameters": {"type": "object"}},
}


def mcp_guardrail(store: FindingStore) -> PolicyMcpGuardrail:
    return PolicyMcpGuardrail(
        guardrail_name="policy-mcp", event_hook=["pre_mcp_call", "post_mcp_call"], default_on=True, store=store
    )


def tool_call(arguments: dict[str, Any]) -> dict[str, Any]:
    """The synthetic data LiteLLM builds for a tools/call (ProxyLogging._convert_mcp_to_llm_format)."""
    return {
        "messages": [{"role": "user", "content": f"Tool: lookup\nArguments: {arguments}"}],
        "model": "mcp-tool-call",
        "mcp_tool_name": "lookup",
        "mcp_arguments": arguments,
        "mcp_tool_description": "Looks a text up.",
        "incoming_bearer_token": "sk-client-key-0123456789abcdef",
        "litellm_logging_obj": None,
        "metadata": {"headers": {}},
    }


async def test_a_tool_calls_name_and_arguments_are_read_as_the_gateway_reads_the_request() -> None:
    store = FindingStore()
    inputs = GenericGuardrailAPIInputs(tools=[TOOL], texts=["Looks a text up.", "find me"])
    arguments = {"text": "find me", "limit": 3}
    out = await mcp_guardrail(store).apply_guardrail(inputs, tool_call(arguments), "request")
    assert out is inputs
    message = {"method": "tools/call", "params": {"name": "lookup", "arguments": arguments}}
    assert store.asked("prompt") == [prompt_input(ENDPOINTS["mcp"], message)]
    assert "sk-client-key" not in repr(store.inputs)


async def test_a_violating_tool_call_is_refused() -> None:
    inputs = GenericGuardrailAPIInputs(tools=[TOOL], texts=[SSN])
    with pytest.raises(PolicyRefusal) as caught:
        await mcp_guardrail(FindingStore()).apply_guardrail(inputs, tool_call({"text": SSN}), "request")
    # LiteLLM answers it as a tool error: "Error: <message>", HTTP 200 (LITELLM_ENDPOINTS.md)
    assert caught.value.message.startswith("the request was blocked by the prompt policy 1.0.0 (categories: pii)")
    assert caught.value.to_dict()["code"] == "prompt_policy_violation"


async def test_a_tool_result_is_redacted_through_the_texts_litellm_writes_back() -> None:
    store = FindingStore()
    inputs = GenericGuardrailAPIInputs(texts=["Found it.", f"The number is {SSN}."])
    out = await mcp_guardrail(store).apply_guardrail(inputs, {"call_type": "call_mcp_tool"}, "response")
    assert out["texts"] == ["Found it.", f"The number is {REDACTED}."]
    [seen] = store.asked("output")
    assert seen["endpoint"] == "mcp"


async def test_a_tool_result_is_withheld_when_the_output_policy_blocks() -> None:
    inputs = GenericGuardrailAPIInputs(texts=[f"The number is {SSN}."])
    with pytest.raises(PolicyRefusal) as caught:
        await mcp_guardrail(FindingStore(action="block")).apply_guardrail(inputs, {}, "response")
    assert caught.value.to_dict()["code"] == "output_policy_violation"


async def test_a_listed_tools_description_is_the_servers_text_for_the_output_policy() -> None:
    # LiteLLM scans each tool tools/list lists (tool_catalog_guard.py), without a logging object;
    # a refused tool is left out of the list, a redacted description served masked.
    store = FindingStore()
    listed = {**tool_call({}), "mcp_tool_description": f"Knows {SSN}."}
    del listed["litellm_logging_obj"]
    inputs = GenericGuardrailAPIInputs(tools=[TOOL], texts=[f"Knows {SSN}."])
    out = await mcp_guardrail(store).apply_guardrail(inputs, listed, "request")
    assert out["texts"] == [f"Knows {REDACTED}."]
    assert store.asked("prompt") == [] and len(store.asked("output")) == 1
