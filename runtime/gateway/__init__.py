"""The policy gateway: an OpenAI-compatible ASGI service that checks every prompt and answer
against the compiled policies in-process and forwards allowed traffic to the LiteLLM proxy."""

from runtime.gateway.app import GatewayApp, build_app
from runtime.gateway.serve import StartupError, serve

__all__ = ["GatewayApp", "StartupError", "build_app", "serve"]
