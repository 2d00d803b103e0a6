"""The header in which the gateway names the client key a request came with, to LiteLLM: set by the
gateway only (an incoming one is never passed on), believed by runtime.litellm_identity only
with LiteLLM's master key, the gateway's service credential."""

IDENTITY_HEADER = "x-gateway-client-key"
