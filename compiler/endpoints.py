"""What the compiler knows about the gateway's endpoints beyond the table itself
(runtime.endpoints.ENDPOINTS): which models, servers or agents serve each, the default set of an
environment, LiteLLM's model mode per capability, and what the in-proxy guardrail cannot check.
"""

from __future__ import annotations

from collections.abc import Iterable

from compiler.model import SpecDocument
from runtime.endpoints import ENDPOINTS, Endpoint
from runtime.endpoints.files import BATCH_URLS

__all__ = [
    "BATCH_CAPABILITIES",
    "ENDPOINTS",
    "IN_PROXY_UNCHECKED",
    "LITELLM_MODES",
    "default_endpoints",
    "exposed_endpoints",
    "model_capabilities",
]

# capability -> LiteLLM's model_info.mode
LITELLM_MODES: dict[str, str] = {
    "chat": "chat",
    "completions": "completion",
    "embeddings": "embedding",
    "images": "image_generation",
    "speech": "audio_speech",
    "transcription": "audio_transcription",
    "moderations": "moderation",
    "rerank": "rerank",
}

# What a line of a batch input may ask for: files and batches need a model of one of these.
BATCH_CAPABILITIES: frozenset[str] = frozenset(
    c for c in (ENDPOINTS[name].capability for name in BATCH_URLS.values()) if c is not None
)

# What LiteLLM never shows a guardrail running inside the proxy, per endpoint
# (tests/integration/LITELLM_ENDPOINTS.md, "Cannot be guarded inside LiteLLM"): without the
# gateway these pass unchecked.
IN_PROXY_UNCHECKED: dict[str, str] = {
    "audio_speech": "the audio it answers",
    "audio_transcriptions": "the transcript",
    "moderations": "the moderation results",
    "rerank": "the documents it sends back",
    "files": "file content downloads, batch outputs among them",
    "batches": "batch retrieve",
    "a2a": "tasks/get, tasks/cancel and the other tasks/* methods",
}


def model_capabilities(endpoint: Endpoint) -> frozenset[str]:
    """The model capabilities any one of which serves `endpoint`; empty for MCP and A2A, which
    servers and agents serve instead of models."""
    if endpoint.capability is None:  # files and batches: what a batch can run
        return BATCH_CAPABILITIES
    if endpoint.capability in ("mcp", "a2a"):
        return frozenset()
    return frozenset({endpoint.capability})


def default_endpoints(capabilities: Iterable[str], *, mcp_servers: bool, agents: bool) -> tuple[str, ...]:
    """Every endpoint the environment can serve, in table order: those of its models' capabilities,
    mcp with MCP servers, a2a with agents."""
    have = frozenset(capabilities)
    out = []
    for endpoint in ENDPOINTS.values():
        if endpoint.capability == "mcp":
            served = mcp_servers
        elif endpoint.capability == "a2a":
            served = agents
        else:
            served = bool(model_capabilities(endpoint) & have)
        if served:
            out.append(endpoint.name)
    return tuple(out)


def exposed_endpoints(doc: SpecDocument) -> tuple[str, ...]:
    """The endpoints an environment's (overlaid) document exposes, in table order."""
    if doc.gateway.endpoints is not None:
        listed = set(doc.gateway.endpoints)
        return tuple(name for name in ENDPOINTS if name in listed)
    return default_endpoints(
        (m.capability for m in doc.models), mcp_servers=bool(doc.mcp_servers), agents=bool(doc.agents)
    )


def served_capabilities(doc: SpecDocument) -> frozenset[str]:
    """The model capabilities the environment's exposed endpoints use: its other models are not served."""
    return frozenset().union(*(model_capabilities(ENDPOINTS[name]) for name in exposed_endpoints(doc)))
