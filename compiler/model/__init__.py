"""The spec language: one document whose sections may be spread over several files."""

from __future__ import annotations

from pydantic import Field

from compiler.model._base import McpServerName, Name, StrictModel
from compiler.model.agents import Agent, McpServer
from compiler.model.backends import Backend, LiteLLM, Model, Router
from compiler.model.bundle import PolicyBundle
from compiler.model.deployment import Deployment
from compiler.model.environments import Environment
from compiler.model.identity import ClientKey, Team
from compiler.model.policies import Policies
from compiler.model.services import ComposeScan, Gateway, Routing, Service

__all__ = ["SpecDocument"]


class SpecDocument(StrictModel):
    """A gateway spec: the sections of all files in specs/ together."""

    services: dict[str, Service] = Field(min_length=1)
    routing: Routing = Routing()
    gateway: Gateway = Gateway()
    environments: dict[str, Environment] = Field(min_length=1)
    backends: dict[str, Backend] = Field(default_factory=dict)
    models: list[Model] = Field(default_factory=list)
    router: Router = Router()
    litellm: LiteLLM = LiteLLM()
    mcp_servers: dict[McpServerName, McpServer] = Field(default_factory=dict)
    agents: dict[Name, Agent] = Field(default_factory=dict)
    teams: dict[Name, Team] = Field(default_factory=dict)
    keys: dict[Name, ClientKey] = Field(default_factory=dict)
    policies: Policies
    policy_bundle: PolicyBundle = PolicyBundle()
    deployment: Deployment = Deployment()
    compose_scan: ComposeScan = ComposeScan()
