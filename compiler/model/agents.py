"""MCP servers and A2A agents: the tools and agents LiteLLM's MCP and agent gateways put behind
the proxy (`/mcp`, `/a2a/{agent}`), and so behind the policy gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.model._base import HttpUrl, StrictModel


class McpServer(StrictModel):
    url: HttpUrl = Field(description="the server's MCP endpoint, e.g. http://mcp-docs.internal:8000/mcp")
    transport: Literal["http", "sse"] = Field("http", description="http: streamable HTTP; sse: the legacy transport")
    description: str | None = Field(None, min_length=1, description="for people and for the models choosing tools")


class Agent(StrictModel):
    url: HttpUrl = Field(description="the agent's A2A JSON-RPC endpoint (its card is at .well-known/agent-card.json)")
    description: str | None = Field(None, min_length=1, description="what the agent does, shown in its card")
