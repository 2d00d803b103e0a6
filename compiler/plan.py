"""The resolved plan: one frozen EnvPlan per environment, every default applied.

Emitters read only this layer: references are resolved to objects, optional fields are filled,
and nothing here is None unless "absent" is a meaning of its own (a backend without health).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from compiler.bundle_trust import public_key_text
from compiler.deploy_plan import DeploymentPlan, RedisPlan, deployment_plan, redis_plan
from compiler.endpoints import ENDPOINTS, exposed_endpoints, model_capabilities, served_capabilities
from compiler.exposure import Published, published
from compiler.model import SpecDocument
from compiler.model.backends import Backend
from compiler.model.monitoring import ALERT_DEFAULTS, AlertName
from compiler.model.observability import SIGNALS, Observability
from compiler.model.services import Server
from compiler.observability import header_env
from compiler.policy_data import spec_data
from compiler.validate import EnvSpec, ValidatedSpec


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class HealthPlan:
    path: str | None
    command: tuple[str, ...] | None
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int


@dataclass(frozen=True)
class PortPlan:
    name: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class ServicePlan:
    name: str
    image: str
    role: str
    port: int
    container_port: int
    extra_ports: tuple[PortPlan, ...]
    health: HealthPlan | None
    depends_on: tuple[str, ...]
    profiles: tuple[str, ...]
    environment: Mapping[str, str]
    published: tuple[Published, ...] = ()  # ports compose publishes on the host; none: reachable inside only


@dataclass(frozen=True)
class BackendPlan:
    name: str
    class_name: str
    base_url: str
    capabilities: tuple[str, ...]
    concurrency: Mapping[str, int]
    health_live: str | None  # None: the backend has no health endpoints (a hosted provider)
    health_ready: str | None
    images_format: str  # url: base64 images refused; b64_json: allowed
    max_image_bytes: int | None  # None: no cap on a base64 image
    legacy_names: tuple[str, ...]
    api_key_env: str | None


@dataclass(frozen=True)
class ModelPlan:
    name: str
    backend: BackendPlan
    capability: str
    litellm_params: Mapping[str, Any]
    fallbacks: tuple[str, ...]
    timeout_s: float
    retries: int


@dataclass(frozen=True)
class EndpointPlan:
    """An endpoint an environment exposes, with what serves it there."""

    name: str
    title: str
    capability: str | None  # None: files and batches, which name no model of their own
    routes: tuple[str, ...]  # "POST /v1/chat/completions", in table order
    served_by: tuple[str, ...]  # the models (or MCP servers, or agents) that serve it


@dataclass(frozen=True)
class McpServerPlan:
    name: str
    url: str
    transport: str  # http | sse
    description: str | None  # None: LiteLLM gets none


@dataclass(frozen=True)
class AgentPlan:
    name: str
    url: str
    description: str  # the spec's, else the agent's name (an agent card must have one)


@dataclass(frozen=True)
class RouterPlan:
    routing_strategy: str
    num_retries: int
    timeout_s: float
    allowed_fails: int
    cooldown_time_s: float
    litellm_extra: Mapping[str, Any]  # the other router_settings the spec sets, in LiteLLM's names


@dataclass(frozen=True)
class LiteLLMPlan:
    master_key_env: str
    settings: Mapping[str, Any]
    general_settings: Mapping[str, Any]


@dataclass(frozen=True)
class AllowancePlan:
    """What a team or a client key may use (compiler/model/identity.py)."""

    name: str
    models: tuple[str, ...]
    max_budget: float | None
    budget_duration: str | None
    rpm_limit: int | None
    tpm_limit: int | None


@dataclass(frozen=True)
class KeyPlan(AllowancePlan):
    key_env: str  # the variable holding the key's value (os.environ/NAME of the specs)
    team: str | None


@dataclass(frozen=True)
class PolicyPlan:
    name: str  # "prompt" or "output"
    version: str
    mode: str  # enforce | monitor | off, for this environment
    data: Mapping[str, Any]  # the policy's spec (pii, jailbreak, token_budget, action, …) as plain data


@dataclass(frozen=True)
class ServerPlan:
    header_timeout_s: float
    body_timeout_s: float
    keep_alive_timeout_s: float
    max_header_bytes: int
    max_connections: int
    auth_failures_per_minute: int
    trusted_proxies: tuple[str, ...]


@dataclass(frozen=True)
class BundleSigningPlan:
    key_id: str
    algorithm: str
    public_key: str | None  # the committed public key's PEM text; None: read from public_key_env at start
    public_key_env: str | None
    required: bool  # this environment refuses an unsigned bundle


@dataclass(frozen=True)
class PolicyBundlePlan:
    """What a policy bundle must prove in this environment before it is loaded."""

    production: bool = False  # sea_env is production: no policy off unless allowed
    allow_off_in_production: bool = False
    signing: BundleSigningPlan | None = None  # None: the manifest's digests only


@dataclass(frozen=True)
class GatewayPlan:
    failure_threshold: int
    reset_timeout_s: float
    requests_per_minute: int
    max_body_bytes: int
    max_answer_bytes: int
    server: ServerPlan
    tokens_per_minute: int | None = None
    redis_max_connections: int = 50


@dataclass(frozen=True)
class AlertPlan:
    name: AlertName
    for_: str
    threshold: float | None  # None: breaker_open, which has none
    severity: str  # page | ticket


@dataclass(frozen=True)
class MonitoringPlan:
    alerts: tuple[AlertPlan, ...]  # the enabled ones, in spec order
    prometheus_rule: bool
    runbook_url: str | None
    match_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # added to every selector


@dataclass(frozen=True)
class ObservabilityPlan:
    """The collector an environment exports to, for the gateway and LiteLLM alike."""

    endpoint: str  # base URL, no path
    protocol: str  # grpc | http/protobuf
    headers: tuple[tuple[str, str], ...]  # (header name, environment variable holding its value), sorted
    gateway_service: str
    litellm_service: str
    sampling_ratio: float
    signals: tuple[str, ...]  # of traces, metrics, logs, in that order
    litellm_callback: bool


@dataclass(frozen=True)
class EnvPlan:
    name: str
    sea_env: str
    enable_policy_gateway: bool
    fail_mode: str
    policy_gateway_url: str
    llm_provider_url: str
    services: tuple[ServicePlan, ...]
    gateway: GatewayPlan
    backends: tuple[BackendPlan, ...]
    models: tuple[ModelPlan, ...]
    router: RouterPlan
    litellm: LiteLLMPlan
    policies: tuple[PolicyPlan, ...]
    rego_sources: Mapping[str, str]  # rego/… relative path -> text
    deployment: DeploymentPlan
    guardrails: str = "off"  # off | in_proxy: policies run inside the LiteLLM proxy too
    # What the environment exposes, in table order; models, servers and agents of no exposed
    # endpoint are left out of `models`, `mcp_servers` and `agents`.
    endpoints: tuple[EndpointPlan, ...] = ()
    mcp_servers: tuple[McpServerPlan, ...] = ()
    agents: tuple[AgentPlan, ...] = ()
    files_backend: BackendPlan | None = None  # None: neither files nor batches is exposed
    policy_bundle: PolicyBundlePlan = PolicyBundlePlan()
    teams: tuple[AllowancePlan, ...] = ()
    keys: tuple[KeyPlan, ...] = ()
    redis: RedisPlan | None = None  # None: no Redis (no cache service and no `redis` section)
    monitoring: MonitoringPlan = MonitoringPlan((), False, None)
    observability: ObservabilityPlan | None = None  # None: no collector, telemetry stays local

    @property
    def proxy_runs_runtime(self) -> bool:
        """LiteLLM imports this project's runtime/: the in-proxy guardrails, or the identity hook
        for client keys (runtime.litellm_identity); it then runs the project's proxy image."""
        return self.guardrails == "in_proxy" or bool(self.keys)

    def service_with_role(self, role: str) -> ServicePlan | None:
        return next((s for s in self.services if s.role == role), None)

    def policy(self, name: str) -> PolicyPlan:
        return next(p for p in self.policies if p.name == name)


@dataclass(frozen=True)
class Plan:
    environments: tuple[EnvPlan, ...]
    specs_digest: str  # sha256 over the spec and rego files, path by path


def build_plan(spec: ValidatedSpec) -> Plan:
    rego = _frozen(dict(sorted(spec.loaded.rego_sources.items())))
    return Plan(
        environments=tuple(_env_plan(env, rego, spec.loaded.root) for env in spec.environments),
        specs_digest=specs_digest(spec.loaded.files),
    )


def specs_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).hexdigest().encode() + b"\n")
    return h.hexdigest()


def _server_plan(server: Server) -> ServerPlan:
    return ServerPlan(
        header_timeout_s=server.header_timeout_s,
        body_timeout_s=server.body_timeout_s,
        keep_alive_timeout_s=server.keep_alive_timeout_s,
        max_header_bytes=server.max_header_bytes,
        max_connections=server.max_connections,
        auth_failures_per_minute=server.auth_failures_per_minute,
        trusted_proxies=tuple(server.trusted_proxies),
    )


def _router_extra(doc: SpecDocument) -> dict[str, Any]:
    """router_settings beyond the five every config carries, under LiteLLM's names, only those set."""
    router = doc.router
    extra: dict[str, Any] = router.model_dump(
        include={"routing_strategy_args", "disable_cooldowns", "redis_host", "redis_port", "redis_password",
                 "redis_url"}, exclude_none=True, exclude_unset=True)
    extra.get("routing_strategy_args", {}).pop("mounted", None)  # the compiler's, not LiteLLM's
    if router.retry_after_s is not None:
        extra["retry_after"] = router.retry_after_s
    if router.context_window_fallbacks:
        extra["context_window_fallbacks"] = [{m: list(f)} for m, f in router.context_window_fallbacks.items()]
    return extra


def _env_plan(env: EnvSpec, rego: Mapping[str, str], root: Path) -> EnvPlan:
    doc = env.document
    spec_env = doc.environments[env.name]
    backends = {name: _backend_plan(name, b) for name, b in doc.backends.items()}
    backends.update({alias: backends[name] for name, b in doc.backends.items() for alias in b.legacy_names})
    exposed = exposed_endpoints(doc)
    served = served_capabilities(doc)
    models = tuple(
        ModelPlan(
            name=m.name,
            backend=backends[m.backend],
            capability=m.capability,
            litellm_params=_frozen(m.litellm_params.model_dump(exclude_unset=True, by_alias=True)),
            fallbacks=tuple(m.fallbacks),
            timeout_s=m.timeout_s if m.timeout_s is not None else doc.router.timeout_s,
            retries=m.retries if m.retries is not None else doc.router.num_retries,
        )
        for m in doc.models
        if m.capability in served
    )
    mcp_servers = tuple(
        McpServerPlan(name, s.url, s.transport, s.description) for name, s in doc.mcp_servers.items()
    ) if "mcp" in exposed else ()
    agents = tuple(
        AgentPlan(name, a.url, a.description or name) for name, a in doc.agents.items()
    ) if "a2a" in exposed else ()
    return EnvPlan(
        name=env.name,
        sea_env=spec_env.sea_env,
        enable_policy_gateway=spec_env.enable_policy_gateway,
        fail_mode=spec_env.fail_mode or doc.routing.fail_mode,
        policy_gateway_url=doc.routing.policy_gateway_url,
        llm_provider_url=doc.routing.llm_provider_url,
        services=tuple(_service_plan(name, doc, spec_env.sea_env == "production") for name in doc.services),
        gateway=GatewayPlan(
            failure_threshold=doc.gateway.circuit_breaker.failure_threshold,
            reset_timeout_s=doc.gateway.circuit_breaker.reset_timeout_s,
            requests_per_minute=doc.gateway.rate_limit.requests_per_minute,
            max_body_bytes=doc.gateway.max_body_bytes,
            max_answer_bytes=doc.gateway.max_answer_bytes,
            server=_server_plan(doc.gateway.server),
            tokens_per_minute=doc.gateway.rate_limit.tokens_per_minute,
            redis_max_connections=doc.gateway.rate_limit.redis_max_connections,
        ),
        backends=tuple(backends[name] for name in doc.backends),
        models=models,
        router=RouterPlan(doc.router.routing_strategy, doc.router.num_retries, doc.router.timeout_s,
                          doc.router.allowed_fails, doc.router.cooldown_time_s, _frozen(_router_extra(doc))),
        litellm=LiteLLMPlan(doc.litellm.master_key_env,
                            _frozen(doc.litellm.settings.model_dump(exclude_unset=True, by_alias=True)),
                            _frozen(doc.litellm.general_settings.model_dump(exclude_unset=True, by_alias=True))),
        policies=tuple(
            PolicyPlan(name=name, version=p.version, mode=p.mode[env.name],
                       data=_frozen(spec_data(p, doc.policies)))
            for name, p in (("prompt", doc.policies.prompt), ("output", doc.policies.output))
        ),
        rego_sources=rego,
        deployment=deployment_plan(doc, spec_env.sea_env, spec_env.guardrails == "in_proxy" or bool(doc.keys)),
        guardrails=spec_env.guardrails,
        endpoints=tuple(_endpoint_plan(name, models, mcp_servers, agents) for name in exposed),
        mcp_servers=mcp_servers,
        agents=agents,
        files_backend=_files_backend(doc, models, backends) if {"files", "batches"} & set(exposed) else None,
        policy_bundle=_policy_bundle_plan(doc, env.name, root),
        teams=tuple(AllowancePlan(name, tuple(t.models), t.max_budget, t.budget_duration, t.rpm_limit, t.tpm_limit)
                    for name, t in sorted(doc.teams.items())),
        keys=tuple(KeyPlan(name, tuple(k.models), k.max_budget, k.budget_duration, k.rpm_limit, k.tpm_limit,
                           key_env=k.key.removeprefix("os.environ/"), team=k.team)
                   for name, k in sorted(doc.keys.items())),
        redis=redis_plan(doc),
        monitoring=_monitoring_plan(doc, spec_env.sea_env, spec_env.fail_mode or doc.routing.fail_mode),
        observability=_observability_plan(spec_env.observability),
    )


def _observability_plan(spec: Observability | None) -> ObservabilityPlan | None:
    if spec is None:
        return None
    return ObservabilityPlan(
        endpoint=spec.otlp_endpoint.rstrip("/"),
        protocol=spec.protocol,
        headers=tuple(sorted((name.lower(), header_env(value)) for name, value in spec.headers.items())),
        gateway_service=spec.service_names.gateway,
        litellm_service=spec.service_names.litellm,
        sampling_ratio=spec.sampling_ratio,
        signals=tuple(s for s in SIGNALS if s in spec.signals),
        litellm_callback=spec.litellm_callback,
    )


def _monitoring_plan(doc: SpecDocument, sea_env: str, fail_mode: str) -> MonitoringPlan:
    """Each alert's spec over the defaults of its sea_env; an open breaker is an outage (page) only
    when the fail mode is closed."""
    defaults = ALERT_DEFAULTS.get(sea_env, ALERT_DEFAULTS["development"])
    alerts = []
    for field_name, spec in doc.monitoring.alerts:
        name = cast(AlertName, field_name)
        if not spec.enabled:
            continue
        d = defaults[name]
        severity = d.severity if name != "breaker_open" or fail_mode == "closed" else "ticket"
        threshold = None if name == "breaker_open" else (spec.threshold if spec.threshold is not None else d.threshold)
        alerts.append(AlertPlan(name, spec.for_ or d.for_, threshold, spec.severity or severity))
    return MonitoringPlan(tuple(alerts), doc.monitoring.prometheus_rule, doc.monitoring.runbook_url,
                          _frozen(dict(sorted(doc.monitoring.match_labels.items()))))


def _policy_bundle_plan(doc: SpecDocument, env_name: str, root: Path) -> PolicyBundlePlan:
    spec = doc.policy_bundle
    signing = None
    if spec.signing is not None:
        s = spec.signing
        pem = public_key_text(root, s.public_key, s.algorithm) if s.public_key is not None else None
        signing = BundleSigningPlan(s.key_id, s.algorithm, pem, s.public_key_env, s.required.get(env_name, False))
    production = doc.environments[env_name].sea_env == "production"
    return PolicyBundlePlan(production, spec.allow_off_in_production, signing)


def _endpoint_plan(name: str, models: tuple[ModelPlan, ...], mcp_servers: tuple[McpServerPlan, ...],
                   agents: tuple[AgentPlan, ...]) -> EndpointPlan:
    endpoint = ENDPOINTS[name]
    if endpoint.capability == "mcp":
        served_by = tuple(s.name for s in mcp_servers)
    elif endpoint.capability == "a2a":
        served_by = tuple(a.name for a in agents)
    else:
        capabilities = model_capabilities(endpoint)
        served_by = tuple(m.name for m in models if m.capability in capabilities)
    return EndpointPlan(
        name=name,
        title=endpoint.title,
        capability=endpoint.capability,
        routes=tuple(f"{r.method} {r.path}" for r in endpoint.routes),
        served_by=served_by,
    )


def _files_backend(doc: SpecDocument, models: tuple[ModelPlan, ...],
                   backends: Mapping[str, BackendPlan]) -> BackendPlan:
    """The spec's litellm.files_backend, else the backend of the first chat model (of the first
    model that can run in a batch when there is no chat model)."""
    if doc.litellm.files_backend is not None:
        return backends[doc.litellm.files_backend]
    batchable = model_capabilities(ENDPOINTS["batches"])
    first = next((m for m in models if m.capability == "chat"), None) or next(
        m for m in models if m.capability in batchable)
    return first.backend


def _service_plan(name: str, doc: SpecDocument, production: bool) -> ServicePlan:
    svc = doc.services[name]
    health = None
    if svc.health is not None:
        h = svc.health
        health = HealthPlan(h.path, tuple(h.command) if h.command else None, h.interval_s, h.timeout_s,
                            h.retries, h.start_period_s)
    return ServicePlan(
        name=name,
        image=svc.image,
        role=svc.role,
        port=svc.port,
        container_port=svc.container_port or svc.port,
        extra_ports=tuple(PortPlan(e.name, e.port, e.container_port or e.port) for e in svc.extra_ports),
        health=health,
        depends_on=tuple(svc.depends_on),
        profiles=tuple(svc.profiles),
        environment=_frozen(svc.environment),
        published=published(svc, production),
    )


def _backend_plan(name: str, b: Backend) -> BackendPlan:
    return BackendPlan(
        name=name,
        class_name=b.class_ or name,
        base_url=b.base_url,
        capabilities=tuple(b.capabilities),
        concurrency=_frozen(b.concurrency),
        health_live=b.health.live if b.health else None,
        health_ready=b.health.ready if b.health else None,
        images_format=b.payload_policy.images_format if b.payload_policy else "url",
        max_image_bytes=b.payload_policy.max_image_bytes if b.payload_policy else None,
        legacy_names=tuple(b.legacy_names),
        api_key_env=b.api_key_env,
    )
