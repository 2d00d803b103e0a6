"""LiteLLM's operating surface as pydantic models: the specs' LiteLLM sections and `gatewayctl litellm-check`."""
