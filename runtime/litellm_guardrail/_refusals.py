"""A refusal (runtime.errors.ApiError from runtime.policy.decision) as the exception LiteLLM turns
into the answer closest to the gateway's: its status, its error object, its headers.

LiteLLM answers a ProxyException on most routes with `{"error": exc.to_dict()}`, its status and
its headers (proxy_server.py:openai_exception_handler, reached through
common_request_processing.py:handle_llm_api_exception or the route's own `except`), so
PolicyRefusal.to_dict is the gateway's error object itself. LiteLLM does not count it as a
guardrail's content block (custom_guardrail.py:is_guardrail_intervention): a refused batch record
refuses the whole upload instead of being dropped from it. The A2A route answers anything but an
HTTPException with a JSON-RPC "Internal error" and status 500
(agent_endpoints/a2a_endpoints.py:invoke_agent_a2a), so there the refusal is an HTTPException.
tests/integration/LITELLM_ENDPOINTS.md ("Our guardrail") has what each route makes of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from litellm.proxy._types import ProxyException

from runtime.endpoints import Endpoint
from runtime.errors import ApiError

__all__ = ["PolicyRefusal", "refusal"]


class PolicyRefusal(ProxyException):
    """A policy refusal LiteLLM answers with the gateway's error object."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(
            message=error.message,
            type=error.type,
            param=error.param,
            code=error.status,
            headers=_headers(error),
            # Routes that build their own error body (Anthropic messages) keep this one.
            provider_specific_fields={"error": error.error()},
        )
        self.api_error = error
        # Routes that rebuild a ProxyException from an exception's attributes read the status here.
        self.status_code = error.status

    def to_dict(self) -> dict[str, Any]:
        return self.api_error.error()


def refusal(endpoint: Endpoint, error: ApiError) -> Exception:
    """The exception to raise from a LiteLLM hook for `error` on `endpoint`."""
    if endpoint.name == "a2a":
        return HTTPException(status_code=error.status, detail=error.error(), headers=_headers(error))
    return PolicyRefusal(error)


def _headers(error: ApiError) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in error.headers}
