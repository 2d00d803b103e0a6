"""Two guardrails that record which LiteLLM hooks run, with what, on each endpoint: `NativeProbe`
implements the lifecycle hooks (as runtime/litellm_guardrail/ PolicyBundleGuardrail does), `UnifiedProbe` only
`apply_guardrail` (LiteLLM then extracts the texts per endpoint itself). Each appends one JSON line
per hook call to `probe_log`, and refuses (HTTPException 400) what contains its `block_marker`.

Loaded by LiteLLM from a config's `guardrails:` section, copied next to that config (LiteLLM finds
`probe_guardrail.NativeProbe` relative to the config file). Used by test_litellm_endpoints_smoke.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail

# LiteLLM's own bookkeeping in `data`; what is left is what the endpoint handed the guardrail.
_INTERNAL_KEYS = frozenset(
    {
        "litellm_call_id",
        "litellm_logging_obj",
        "metadata",
        "litellm_metadata",
        "proxy_server_request",
        "secret_fields",
        "user_api_key_dict",
        "guardrail_to_apply",
    }
)


def _shape(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {"": type(data).__name__}
    return {key: type(value).__name__ for key, value in sorted(data.items()) if key not in _INTERNAL_KEYS}


def _route(user_api_key_dict: Any) -> str | None:
    return getattr(user_api_key_dict, "request_route", None)


class _Probe(CustomGuardrail):
    def __init__(self, *, probe_log: str, block_marker: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probe_log = probe_log
        self.block_marker = block_marker

    def _write(self, **entry: Any) -> None:
        with open(self.probe_log, "a") as f:
            f.write(json.dumps({"probe": type(self).__name__, **entry}, default=str) + "\n")

    def _check(self, seen: Any, hook: str) -> None:
        if self.block_marker in repr(seen):
            raise HTTPException(
                status_code=400,
                detail={"error": {"message": f"{hook}: blocked by the probe", "type": "policy_violation"}},
            )


class NativeProbe(_Probe):
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> Any:
        self._write(hook="async_pre_call_hook", call_type=call_type, route=_route(user_api_key_dict), data=_shape(data))
        self._check({k: v for k, v in data.items() if k not in _INTERNAL_KEYS}, "pre_call")
        return data

    async def async_moderation_hook(self, data: dict[str, Any], user_api_key_dict: Any, call_type: str) -> Any:
        self._write(hook="async_moderation_hook", call_type=call_type, route=_route(user_api_key_dict))
        return None

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any, response: Any) -> Any:
        self._write(
            hook="async_post_call_success_hook",
            route=_route(user_api_key_dict),
            response=f"{type(response).__module__}.{type(response).__name__}",
        )
        self._check(response, "post_call")
        return response

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        chunks = [chunk async for chunk in response]
        types = sorted({f"{type(c).__module__}.{type(c).__name__}" for c in chunks})
        self._write(
            hook="async_post_call_streaming_iterator_hook",
            route=_route(user_api_key_dict),
            chunks=len(chunks),
            chunk_types=types,
            first=repr(chunks[0])[:300] if chunks else None,
        )
        self._check(chunks, "post_call_stream")
        for chunk in chunks:
            yield chunk

    async def async_post_call_streaming_hook(self, user_api_key_dict: Any, response: Any) -> Any:
        self._write(
            hook="async_post_call_streaming_hook", route=_route(user_api_key_dict), response=type(response).__name__
        )
        return None

    async def async_post_mcp_tool_call_hook(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> Any:
        self._write(hook="async_post_mcp_tool_call_hook", response=repr(response_obj)[:300])
        self._check(response_obj, "post_mcp_call")
        return None


class UnifiedProbe(_Probe):
    async def apply_guardrail(
        self, inputs: Any, request_data: dict[str, Any], input_type: str, logging_obj: Any = None
    ) -> Any:
        texts = list(inputs.get("texts") or [])
        self._write(
            hook="apply_guardrail",
            input_type=input_type,
            inputs={key: type(value).__name__ for key, value in inputs.items()},
            texts=texts[:8],
            route=(request_data.get("metadata") or {}).get("user_api_key_request_route")
            or request_data.get("user_api_key_request_route"),
        )
        self._check([*texts, inputs.get("tool_calls"), inputs.get("structured_messages")], f"apply_{input_type}")
        return inputs
