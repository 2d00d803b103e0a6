"""Client adapters for applications calling models through the policy gateway."""

from runtime.client.policy_gateway_client import (
    BYPASS_EVENT,
    DEFAULT_LLM_PROVIDER_URL,
    DEFAULT_POLICY_GATEWAY_URL,
    ClientConfig,
    HttpPolicyGatewayClient,
    LlmProviderUnavailable,
    PolicyGatewayConfigError,
    PolicyGatewayError,
    PolicyGatewayPort,
    PolicyGatewayUnavailable,
    PolicyViolation,
    SyncPolicyGatewayClient,
    UpstreamHTTPError,
    error_from_body,
)

__all__ = [
    "BYPASS_EVENT",
    "DEFAULT_LLM_PROVIDER_URL",
    "DEFAULT_POLICY_GATEWAY_URL",
    "ClientConfig",
    "HttpPolicyGatewayClient",
    "LlmProviderUnavailable",
    "PolicyGatewayConfigError",
    "PolicyGatewayError",
    "PolicyGatewayPort",
    "PolicyGatewayUnavailable",
    "PolicyViolation",
    "SyncPolicyGatewayClient",
    "UpstreamHTTPError",
    "error_from_body",
]
