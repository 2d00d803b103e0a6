"""Helm values for deploy/helm/policy-gateway: `generated/<env>/helm/values.yaml`.

The chart cannot read generated/ when it renders, so what it must know about the compiled files
travels in the values: the LiteLLM config as data (the chart puts it in a ConfigMap), the policy
revision, and the sha256 of gateway.json and the policy bundle the image bakes in. The digests and
the revision become pod annotations, so a policy or config change rolls the pods, and the image's
entrypoint refuses to start when it holds another compile. Secrets appear only as key names of a
Secret created outside the chart.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from compiler import sizing
from compiler.deploy_plan import WorkloadPlan
from compiler.emit import alerts, gateway_settings, litellm, opa_bundle, otel_env
from compiler.emit._yaml import dump_yaml
from compiler.plan import EnvPlan, ServicePlan
from runtime.policy._digests import MANIFEST

CHART = "deploy/helm/policy-gateway"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _sha256(content: str | bytes) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def _image(ref: str, pull_policy: str) -> dict[str, str]:
    """repository[:tag][@digest] split as the chart wants it; no tag and no digest means
    `latest`, as in Docker."""
    name, _, digest = ref.partition("@")
    repository, tag = name, ""
    if ":" in name.rsplit("/", 1)[-1]:  # a colon before the last "/" is a registry port
        repository, tag = name.rsplit(":", 1)
    if not tag and not digest:
        tag = "latest"
    return {"repository": repository, "tag": tag, "digest": digest, "pullPolicy": pull_policy}


def _workload(workload: WorkloadPlan) -> dict[str, Any]:
    return {
        "replicas": workload.replicas,
        "resources": {kind: dict(workload.resources[kind]) for kind in ("requests", "limits")},
    }


def _longest_request_s(env: EnvPlan) -> float:
    return max((m.timeout_s for m in env.models), default=env.router.timeout_s)


def _drain(env: EnvPlan) -> dict[str, int]:
    """A stopping pod finishes its longest request before it is killed (compiler/sizing.py)."""
    return {
        "preStopSleepSeconds": sizing.PRESTOP_SLEEP_S,
        "terminationGracePeriodSeconds": sizing.termination_grace_s(_longest_request_s(env)),
    }


def _ingress_annotations(env: EnvPlan) -> dict[str, str]:
    """The spec's annotations over the nginx sizes that let every request through (validate has
    refused spec values below them)."""
    ingress = env.deployment.ingress
    assert ingress is not None
    sized = (sizing.nginx_annotations(_longest_request_s(env), env.gateway.max_body_bytes)
             if ingress.class_name == "nginx" else {})
    return dict(sorted({**sized, **ingress.annotations}.items()))


def _backend_ports(env: EnvPlan) -> list[int]:
    """Ports of the self-hosted backends, MCP servers and agents the proxy calls; HTTPS to
    providers has a rule of its own."""
    ports = set()
    urls = [b.base_url for b in env.backends] + [s.url for s in env.mcp_servers] + [a.url for a in env.agents]
    for target in urls:
        url = urlsplit(target)
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.hostname not in _LOOPBACK and port != 443:
            ports.add(port)
    return sorted(ports)


def _redis_url_from_secret(env: EnvPlan) -> bool:
    """REDIS_URL (with its password) from the Secret: for a single Redis only; Sentinel's addresses
    are plain settings and its password comes apart (redis.password_env)."""
    return env.deployment.redis_url_from_secret and not (env.redis is not None and env.redis.sentinels)


def _collector_port(env: EnvPlan) -> int | None:
    if env.observability is None:
        return None
    url = urlsplit(env.observability.endpoint)
    return url.port or (443 if url.scheme == "https" else 80)


def _gateway_env(env: EnvPlan) -> dict[str, str]:
    """The gateway's plain settings; REDIS_URL comes from the Secret when Redis has a password."""
    out = dict(sorted((gateway_settings.environment(env) | otel_env.gateway_environment(env)).items()))
    if _redis_url_from_secret(env):
        out.pop("REDIS_URL", None)
    return out


def _gateway_secret_env(env: EnvPlan) -> dict[str, str]:
    """Environment variable -> key of the existing Secret."""
    out = {
        "LLM_PROVIDER_API_KEY": env.litellm.master_key_env,
        "POLICY_GATEWAY_API_KEYS": "POLICY_GATEWAY_API_KEYS",
        "POLICY_GATEWAY_MASTER_KEY": "POLICY_GATEWAY_MASTER_KEY",
    }
    if _redis_url_from_secret(env):
        out["REDIS_URL"] = "REDIS_URL"  # it holds the Redis password
    out |= {name: name for name in gateway_settings.client_key_envs(env)}
    password_env = gateway_settings.redis_password_env(env)
    if password_env:
        out["REDIS_PASSWORD"] = password_env
    key_env = gateway_settings.verification_key_env(env)
    if key_env:
        out[key_env] = key_env  # the bundle verification key (docs/deploy.md, "Signed policy bundles")
    out |= {name: name for name in otel_env.header_secrets(env)}
    return dict(sorted(out.items()))


def _redis(env: EnvPlan, cache: ServicePlan | None) -> dict[str, Any]:
    """Where the network policies let the gateway reach Redis: the cache service's port and, with
    Redis Sentinel, the sentinels' ports."""
    out: dict[str, Any] = {"host": cache.name, "port": cache.container_port} if cache else {}
    if env.redis is not None and env.redis.sentinels:
        out["sentinelPorts"] = sorted({int(s.rpartition(":")[2]) for s in env.redis.sentinels})
    return out


def _expanded_env(env: EnvPlan) -> dict[str, Any]:
    """Values built from secretEnv variables as $(NAME): the chart sets them after secretEnv, since
    Kubernetes expands $(NAME) only from a variable defined before it. The collector's headers."""
    headers = otel_env.headers_value(env, lambda name: f"$({name})")
    return {"expandedEnv": headers} if headers else {}


def _litellm(env: EnvPlan, proxy: ServicePlan) -> dict[str, Any]:
    d = env.deployment
    keys = {env.litellm.master_key_env, *(b.api_key_env for b in env.backends if b.api_key_env)}
    keys |= set(gateway_settings.client_key_envs(env, proxy=True))
    keys.update(litellm.env_references(env))  # os.environ/ references of the config, callbacks' variables
    key_env = gateway_settings.verification_key_env(env)
    if env.guardrails == "in_proxy" and key_env:
        keys.add(key_env)  # the guardrails verify the bundle as the gateway does
    telemetry = otel_env.litellm_environment(env)
    if telemetry:
        keys.update(otel_env.header_secrets(env))
    return {
        "enabled": True,
        "name": proxy.name,
        "image": _image(d.llm_provider_image, d.image_pull_policy),
        **_workload(d.llm_provider),
        "port": proxy.container_port,
        **_drain(env),
        # The data litellm/config.yaml is written from: the ConfigMap holds the compiled config.
        "config": litellm.config(env),
        # The config's guardrails load runtime/ and the bundle: the image and mount that have them.
        "guardrails": env.guardrails == "in_proxy",
        # The client keys' table runtime.litellm_identity reads beside the config (ConfigMap too).
        "identities": litellm.identities(env) if env.keys else None,
        "secretEnv": {key: key for key in sorted(keys)},
        **({"env": telemetry, **_expanded_env(env)} if telemetry else {}),
    }


def values(env: EnvPlan, gateway: ServicePlan, bundle: bytes) -> dict[str, Any]:
    d = env.deployment
    proxy = env.service_with_role("llm-provider")
    cache = env.service_with_role("cache")
    engine = env.service_with_role("policy-engine")
    settings = gateway_settings.render_env(env)["gateway.json"]
    manifest = json.loads(opa_bundle.read_files(bundle)[MANIFEST])
    out: dict[str, Any] = {
        "environment": env.name,
        "seaEnv": env.sea_env,
        "gateway": {
            "name": gateway.name,
            "image": _image(gateway.image, d.image_pull_policy),
            **_workload(d.gateway),
            "port": gateway.container_port,
            **_drain(env),
            "operationsPort": gateway_settings.operations_port(env),
            "env": _gateway_env(env),
            "secretEnv": _gateway_secret_env(env),
            **_expanded_env(env),
        },
        "litellm": _litellm(env, proxy) if proxy is not None else {"enabled": False},
        "secrets": {"existingSecret": d.existing_secret},
        "redis": _redis(env, cache),
        "opa": (
            {"enabled": True, "host": engine.name, "port": engine.container_port}
            if engine
            else {"enabled": False}
        ),
        "policy": {
            "bundleRevision": manifest["revision"],
            **{p.name: {"version": p.version, "mode": p.mode} for p in env.policies},
        },
        "checksums": {"policyBundle": _sha256(bundle), "gatewaySettings": _sha256(settings)},
        "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "networkPolicy": {
            "enabled": d.network_policy.enabled,
            "ingressControllerNamespace": d.network_policy.ingress_controller_namespace,
            "prometheusNamespace": d.network_policy.prometheus_namespace,
            "clientPodLabels": dict(sorted(d.network_policy.client_pod_labels.items())),
            "redisPodLabels": dict(sorted(d.network_policy.redis_pod_labels.items())),
            "backendPorts": _backend_ports(env),
            "collectorPort": _collector_port(env),
        },
        "ingress": {"enabled": False},
        "metrics": {
            "prometheusRule": {"enabled": env.monitoring.prometheus_rule, "groups": alerts.groups(env)}
            if env.monitoring.prometheus_rule else {"enabled": False, "groups": []},
        },
    }
    if d.autoscaling is not None:
        a = d.autoscaling
        out["autoscaling"] = {
            "enabled": True,
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "targetCPUUtilizationPercentage": a.target_cpu_percent,
            "targetMemoryUtilizationPercentage": a.target_memory_percent,
        }
    if d.pdb_min_available is not None:
        out["podDisruptionBudget"] = {"enabled": True, "minAvailable": d.pdb_min_available}
    if d.ingress is not None:
        out["ingress"] = {
            "enabled": True,
            "className": d.ingress.class_name,
            "host": d.ingress.host,
            "tlsSecretName": d.ingress.tls_secret_name or "",
            "annotations": _ingress_annotations(env),
        }
    return out


def render_env(env: EnvPlan, bundle: bytes) -> dict[str, str]:
    """bundle: the environment's final opa/bundle.tar.gz (with policy.wasm), whose digest and
    revision the values carry."""
    gateway = env.service_with_role("policy-gateway")
    if gateway is None:  # no gateway in the specs: nothing for the chart to deploy
        return {}
    usage = (
        f"# Values of {CHART} for environment {env.name} (tier {env.deployment.tier}):\n"
        f"#   helm upgrade --install policy-gateway {CHART} -f generated/{env.name}/helm/values.yaml\n"
    )
    return {"helm/values.yaml": usage + dump_yaml(values(env, gateway, bundle))}
