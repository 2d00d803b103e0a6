"""What an environment runs with on Kubernetes and where its shared state is: its deployment over
its tier's defaults, and its Redis. Apart from compiler/plan.py so that `validate`, which checks
the gateway's replicas against Redis, does not import the whole plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from compiler.model import SpecDocument
from compiler.model.deployment import TIERS, Ingress, NetworkPolicy, Workload, tier_for

__all__ = ["AutoscalingPlan", "DeploymentPlan", "RedisPlan", "WorkloadPlan", "deployment_plan", "redis_plan"]


@dataclass(frozen=True)
class WorkloadPlan:
    replicas: int
    resources: Mapping[str, Mapping[str, str]]  # {"requests"|"limits": {"cpu", "memory"}}


@dataclass(frozen=True)
class AutoscalingPlan:
    min_replicas: int
    max_replicas: int
    target_cpu_percent: int
    target_memory_percent: int


@dataclass(frozen=True)
class DeploymentPlan:
    """Kubernetes settings of one environment: the spec's `deployment` over its tier's defaults."""

    tier: str
    image_pull_policy: str
    gateway: WorkloadPlan
    llm_provider: WorkloadPlan
    llm_provider_image: str  # the stock LiteLLM image, or the project's (runtime/ inside)
    autoscaling: AutoscalingPlan | None  # None: the gateway runs a fixed number of replicas
    pdb_min_available: int | None  # None: no PodDisruptionBudget
    existing_secret: str
    redis_url_from_secret: bool
    network_policy: NetworkPolicy
    ingress: Ingress | None  # None: no Ingress


@dataclass(frozen=True)
class RedisPlan:
    """Where the gateway's shared state is: a URL, or sentinels and a master name."""

    url: str | None  # None with sentinels
    sentinels: tuple[str, ...] = ()  # host:port
    master_name: str | None = None
    password_env: str | None = None  # None: no password of its own (see `service`)
    service: str | None = None  # the registry's cache service, whose password compose sets (REDIS_PASSWORD)


def redis_plan(doc: SpecDocument) -> RedisPlan | None:
    """The `redis` section, else the registry's cache service by URL."""
    spec = doc.redis
    if spec is not None and spec.sentinel is not None:
        return RedisPlan(None, tuple(spec.sentinel.sentinels), spec.sentinel.master_name, spec.password_env)
    if spec is not None and spec.url is not None:
        return RedisPlan(spec.url, password_env=spec.password_env)
    cache = next((name for name, svc in doc.services.items() if svc.role == "cache"), None)
    if cache is None:
        return None
    svc = doc.services[cache]
    return RedisPlan(f"redis://{cache}:{svc.container_port or svc.port}/0", service=cache)


def deployment_plan(doc: SpecDocument, sea_env: str, runs_runtime: bool = False) -> DeploymentPlan:
    spec = doc.deployment
    tier_name = spec.tier or tier_for(sea_env)
    tier = TIERS[tier_name]
    scaling = spec.gateway.autoscaling
    autoscaling = None
    if scaling.enabled if scaling.enabled is not None else tier.autoscaling:
        low = scaling.min_replicas or tier.min_replicas
        autoscaling = AutoscalingPlan(
            min_replicas=low,
            max_replicas=scaling.max_replicas or max(tier.max_replicas, low),
            target_cpu_percent=scaling.target_cpu_percent or tier.target_cpu_percent,
            target_memory_percent=scaling.target_memory_percent or tier.target_memory_percent,
        )
    pdb = spec.pod_disruption_budget
    pdb_on = pdb.enabled if pdb.enabled is not None else tier.pod_disruption_budget
    return DeploymentPlan(
        tier=tier_name,
        image_pull_policy=tier.image_pull_policy,
        gateway=_workload_plan(spec.gateway, tier.gateway_replicas, tier.gateway_resources),
        llm_provider=_workload_plan(spec.llm_provider, tier.llm_provider_replicas,
                                    tier.llm_provider_resources),
        llm_provider_image=spec.llm_provider.image or _proxy_image(doc, runs_runtime),
        autoscaling=autoscaling,
        pdb_min_available=(pdb.min_available or 1) if pdb_on else None,
        existing_secret=spec.existing_secret,
        redis_url_from_secret=spec.redis_url_from_secret,
        network_policy=spec.network_policy,
        ingress=spec.ingress if spec.ingress.enabled else None,
    )


def _workload_plan(spec: Workload, replicas: int, tier: Mapping[str, Mapping[str, str]]) -> WorkloadPlan:
    """The spec's replicas and resources, each amount it leaves out taken from the tier."""
    resources = {}
    for kind in ("requests", "limits"):
        given = getattr(spec.resources, kind)
        resources[kind] = MappingProxyType({"cpu": given.cpu or tier[kind]["cpu"],
                                   "memory": given.memory or tier[kind]["memory"]})
    return WorkloadPlan(spec.replicas or replicas, MappingProxyType(resources))


def _proxy_image(doc: SpecDocument, runs_runtime: bool) -> str:
    """The stock LiteLLM image cannot import runtime/ (the in-proxy guardrails, the identity hook):
    then the proxy runs deploy/docker/Dockerfile.litellm, named after the gateway image it is built
    beside."""
    by_role = {svc.role: svc.image for svc in doc.services.values()}
    gateway = by_role.get("policy-gateway")
    if runs_runtime and gateway is not None:
        name = gateway.partition("@")[0]
        if ":" in name.rsplit("/", 1)[-1]:
            repository, tag = name.rsplit(":", 1)
            return f"{repository}-litellm:{tag}"
        return f"{name}-litellm"
    return by_role.get("llm-provider", "")  # "": no proxy in the specs, so nothing deploys it
