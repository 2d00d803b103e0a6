"""The `deployment` section: how the Helm chart runs the gateway and the LiteLLM proxy.

Every field is optional. What is left out comes from the environment's tier (seed 001's resource
tiers dev, staging and prod), picked from its sea_env unless `tier` names one, so the specs stay
short and an environment's `overrides.deployment` says only what differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from compiler.model._base import Name, StrictModel

Tier = Literal["dev", "staging", "prod"]
CpuQuantity = Annotated[str, StringConstraints(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")]
MemoryQuantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(Ki|Mi|Gi|Ti)$")]
LabelValue = Annotated[
    str, StringConstraints(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", max_length=63)
]
HostName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]


class Amounts(StrictModel):
    cpu: CpuQuantity | None = Field(None, description='e.g. "250m" or "1"; defaults from the tier')
    memory: MemoryQuantity | None = Field(None, description='e.g. "512Mi"; defaults from the tier')


class Resources(StrictModel):
    requests: Amounts = Amounts()
    limits: Amounts = Amounts()


class Autoscaling(StrictModel):
    enabled: bool | None = Field(None, description="HorizontalPodAutoscaler (off in the dev tier)")
    min_replicas: int | None = Field(None, ge=1)
    max_replicas: int | None = Field(None, ge=1)
    target_cpu_percent: int | None = Field(None, ge=1, le=100)
    target_memory_percent: int | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Autoscaling:
        low, high = self.min_replicas, self.max_replicas
        if low is not None and high is not None and high < low:
            raise ValueError(f"max_replicas ({high}) is below min_replicas ({low})")
        return self


class Workload(StrictModel):
    replicas: int | None = Field(None, ge=1, description="replicas when not autoscaled")
    resources: Resources = Resources()


class GatewayWorkload(Workload):
    autoscaling: Autoscaling = Autoscaling()


class ProxyWorkload(Workload):
    image: str | None = Field(
        None,
        min_length=1,
        description="LiteLLM image on Kubernetes; defaults to services' llm-provider image, or with "
        "guardrails: in_proxy to <gateway repository>-litellm:<gateway tag> (deploy/docker/Dockerfile.litellm)",
    )


class DisruptionBudget(StrictModel):
    enabled: bool | None = Field(None, description="PodDisruptionBudget (off in the dev tier)")
    min_available: int | None = Field(None, ge=1)


class NetworkPolicy(StrictModel):
    enabled: bool = True
    ingress_controller_namespace: Name = "ingress-nginx"
    prometheus_namespace: Name = "monitoring"
    client_pod_labels: dict[str, LabelValue] = Field(
        default_factory=lambda: {"policy-gateway-client": "true"},
        min_length=1,
        description="pods carrying these labels (any namespace) may call the gateway",
    )
    redis_pod_labels: dict[str, LabelValue] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "redis"},
        min_length=1,
        description="labels of the Redis pods (any namespace) the gateway and the proxy may reach",
    )


class Ingress(StrictModel):
    enabled: bool = False
    host: HostName | None = None
    class_name: Name = "nginx"
    tls_secret_name: Name | None = None
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Ingress annotations (cert-manager's, the controller's); with class nginx the compiler sets "
        "proxy-read-timeout and proxy-send-timeout to the longest model timeout and proxy-body-size to "
        "gateway.max_body_bytes, and validate refuses values given here that are smaller",
    )

    @model_validator(mode="after")
    def _host_when_enabled(self) -> Ingress:
        if self.enabled and not self.host:
            raise ValueError("an enabled ingress needs a host")
        return self


class Deployment(StrictModel):
    tier: Tier | None = Field(None, description="resource tier; defaults from sea_env")
    gateway: GatewayWorkload = GatewayWorkload()
    llm_provider: ProxyWorkload = ProxyWorkload()
    pod_disruption_budget: DisruptionBudget = DisruptionBudget()
    existing_secret: Name = Field(
        "policy-gateway-secrets",
        description="Secret created outside the chart holding every key; the chart only refers to it",
    )
    redis_url_from_secret: bool = Field(
        True,
        description="take REDIS_URL (with Redis's password, as compose requires one) from the Secret; false: "
        "the plan's URL, without a password, in the ConfigMap",
    )
    network_policy: NetworkPolicy = NetworkPolicy()
    ingress: Ingress = Ingress()


ResourceTable = Mapping[str, Mapping[str, str]]  # {"requests"|"limits": {"cpu", "memory"}}


@dataclass(frozen=True)
class TierDefaults:
    """What a tier sets when the spec does not (seed 001: section 6, the HPA and PDB plans)."""

    gateway_replicas: int
    gateway_resources: ResourceTable
    llm_provider_replicas: int
    llm_provider_resources: ResourceTable
    autoscaling: bool
    min_replicas: int
    max_replicas: int
    target_cpu_percent: int
    pod_disruption_budget: bool
    image_pull_policy: str
    target_memory_percent: int = 80


def _resources(cpu: tuple[str, str], memory: tuple[str, str]) -> ResourceTable:
    return MappingProxyType({
        "requests": MappingProxyType({"cpu": cpu[0], "memory": memory[0]}),
        "limits": MappingProxyType({"cpu": cpu[1], "memory": memory[1]}),
    })


TIERS: Mapping[Tier, TierDefaults] = MappingProxyType({
    "dev": TierDefaults(
        gateway_replicas=1, gateway_resources=_resources(("100m", "500m"), ("256Mi", "512Mi")),
        llm_provider_replicas=1, llm_provider_resources=_resources(("250m", "1000m"), ("512Mi", "1Gi")),
        autoscaling=False, min_replicas=1, max_replicas=1, target_cpu_percent=70,
        pod_disruption_budget=False, image_pull_policy="IfNotPresent",
    ),
    "staging": TierDefaults(
        gateway_replicas=2, gateway_resources=_resources(("250m", "1000m"), ("512Mi", "2Gi")),
        llm_provider_replicas=2, llm_provider_resources=_resources(("500m", "2000m"), ("1Gi", "2Gi")),
        autoscaling=True, min_replicas=2, max_replicas=10, target_cpu_percent=70,
        pod_disruption_budget=True, image_pull_policy="IfNotPresent",
    ),
    "prod": TierDefaults(
        gateway_replicas=3, gateway_resources=_resources(("500m", "2000m"), ("1Gi", "4Gi")),
        llm_provider_replicas=3, llm_provider_resources=_resources(("500m", "2000m"), ("1Gi", "4Gi")),
        autoscaling=True, min_replicas=3, max_replicas=20, target_cpu_percent=60,
        pod_disruption_budget=True, image_pull_policy="Always",
    ),
})


def tier_for(sea_env: str) -> Tier:
    """The tier an environment gets unless it names one: by SEA_ENV, anything else is dev."""
    if sea_env == "production":
        return "prod"
    if sea_env == "staging":
        return "staging"
    return "dev"
