"""The `deployment` section of the specs and the Helm values compiled from it.

Tiers come from sea_env (seed 001), an environment's overrides change only what they name, bad
sections are reported at their file:line, and a policy change reaches the pods as a new pod
template (which is what makes Kubernetes roll them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from helmchart import KUBE_VERSION, find, parse_manifests

from compiler import policy_versions
from compiler.deploy_plan import DeploymentPlan
from compiler.errors import SpecErrors
from compiler.load import load_specs
from compiler.pipeline import check, compile_project
from compiler.plan import build_plan
from compiler.validate import validate

Render = Callable[[dict[str, Any]], dict[str, str]]


def deployments(root: Path) -> dict[str, DeploymentPlan]:
    return {env.name: env.deployment for env in build_plan(check(root)).environments}


def add_prod_overrides(root: Path, yaml_lines: str) -> None:
    """Put `deployment:` lines under environments.prod.overrides in specs/gateway.yaml, beside the
    deployment overrides prod has (its ingress)."""
    path = root / "specs" / "gateway.yaml"
    text = path.read_text()
    marker = "  prod:\n"
    head, tail = text.split(marker)
    section = "      deployment:\n"
    assert yaml_lines.startswith(section) and section in tail
    tail = tail.replace(section, yaml_lines, 1)
    path.write_text(head + marker + tail)


def compiled_values(root: Path, env: str) -> dict[str, Any]:
    result = compile_project(root, root / "generated")
    return helm.values_from_yaml(result.files[f"{env}/helm/values.yaml"].decode())


def test_each_environment_gets_the_tier_of_its_sea_env(project: Path) -> None:
    plans = deployments(project)
    assert {name: d.tier for name, d in plans.items()} == {
        "dev": "dev",
        "staging": "staging",
        "prod": "prod",
    }
    assert plans["dev"].autoscaling is None
    assert plans["dev"].pdb_min_available is None
    assert plans["prod"].image_pull_policy == "Always"


def test_override_changes_only_the_amount_it_names(project: Path) -> None:
    add_prod_overrides(
        project,
        "      deployment:\n        gateway:\n          resources:\n            limits: {memory: 8Gi}\n",
    )
    gateway = deployments(project)["prod"].gateway
    assert dict(gateway.resources["limits"]) == {"cpu": "2000m", "memory": "8Gi"}
    assert dict(gateway.resources["requests"]) == {"cpu": "500m", "memory": "1Gi"}
    assert dict(deployments(project)["staging"].gateway.resources["limits"])["memory"] == "2Gi"


def test_named_tier_wins_over_sea_env(project: Path) -> None:
    (project / "specs" / "deployment.yaml").write_text("deployment:\n  tier: prod\n")
    plans = deployments(project)
    assert {d.tier for d in plans.values()} == {"prod"}
    assert plans["dev"].autoscaling is not None
    assert plans["dev"].autoscaling.max_replicas == 20


def test_min_replicas_above_the_tier_maximum_lifts_the_maximum(project: Path) -> None:
    add_prod_overrides(project, "      deployment:\n        gateway:\n          autoscaling: {min_replicas: 25}\n")
    scaling = deployments(project)["prod"].autoscaling
    assert scaling is not None
    assert (scaling.min_replicas, scaling.max_replicas) == (25, 25)


def test_dev_can_opt_into_autoscaling_and_a_disruption_budget(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text(
        "deployment:\n"
        "  gateway: {autoscaling: {enabled: true, min_replicas: 2, max_replicas: 4}}\n"
        "  pod_disruption_budget: {enabled: true}\n"
    )
    dev = deployments(project)["dev"]
    assert dev.autoscaling is not None
    assert (dev.autoscaling.min_replicas, dev.autoscaling.max_replicas) == (2, 4)
    assert dev.pdb_min_available == 1
    manifests = parse_manifests(render(compiled_values(project, "dev")))
    assert [m.name for m in manifests if m.kind == "HorizontalPodAutoscaler"] == ["policy-gateway"]
    # The proxy keeps its single dev replica, so only the gateway gets a budget.
    assert [m.name for m in manifests if m.kind == "PodDisruptionBudget"] == ["policy-gateway"]


def test_a_budget_that_would_block_every_drain_fails_the_render(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text(
        "deployment:\n  pod_disruption_budget: {enabled: true, min_available: 1}\n"
    )
    with pytest.raises(helm.HelmRenderError, match="must be below the gateway's replicas \\(1\\)"):
        render(compiled_values(project, "dev"))


@pytest.mark.parametrize(
    ("section", "message", "line"),
    [
        (
            "deployment:\n  gateway:\n    autoscaling: {min_replicas: 5, max_replicas: 2}\n",
            "max_replicas (2) is below min_replicas (5)",
            3,
        ),
        ("deployment:\n  ingress: {enabled: true}\n", "an enabled ingress needs a host", 2),
        ("deployment:\n  gateway:\n    resources: {limits: {cpu: lots}}\n", "lots", 3),
        ("deployment:\n  gateway:\n    replica: 3\n", "replica", 3),
        ("deployment:\n  existing_secret: My_Secret\n", "My_Secret", 2),
    ],
)
def test_bad_deployment_section_is_reported_at_its_line(project: Path, section: str, message: str, line: int) -> None:
    (project / "specs" / "deployment.yaml").write_text(section)
    with pytest.raises(SpecErrors) as caught:
        check(project)
    rendered = [str(p) for p in caught.value.errors]
    assert any(message in p and p.startswith(f"specs/deployment.yaml:{line}:") for p in rendered), rendered


def test_values_are_the_same_bytes_on_every_compile(project: Path) -> None:
    first = compile_project(project, project / "generated").files
    second = compile_project(project, project / "generated").files
    helm_files = [path for path in first if path.endswith("helm/values.yaml")]
    assert sorted(helm_files) == ["dev/helm/values.yaml", "prod/helm/values.yaml", "staging/helm/values.yaml"]
    assert all(first[path] == second[path] for path in helm_files)


def test_values_hold_secret_names_never_values(project: Path) -> None:
    values = compiled_values(project, "prod")
    for part in ("gateway", "litellm"):
        for name, key in values[part]["secretEnv"].items():
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and re.fullmatch(r"[A-Z][A-Z0-9_]*", key)
    assert not any(re.search(r"(KEY|SECRET|TOKEN|PASSWORD)", name) for name in values["gateway"]["env"])


@pytest.mark.parametrize(("env", "proxy_rolls"), [("prod", False), ("dev", True)])
def test_a_policy_version_bump_rolls_the_pods_that_evaluate_policies(
    project: Path, render: Render, env: str, proxy_rolls: bool
) -> None:
    # prod: only the gateway evaluates policies; dev (guardrails: in_proxy): the proxy does too.
    before = compiled_values(project, env)
    policies = project / "specs" / "policies.yaml"
    text = policies.read_text()
    old = re.search(r"  prompt:\n    version: (\S+)\n", text)
    assert old is not None
    major, minor, _ = old[1].split(".")
    new = f"{major}.{int(minor) + 1}.0"
    policies.write_text(text.replace(old[0], f"  prompt:\n    version: {new}\n"))
    # A version is bumped in the spec, the Rego header and METADATA, and recorded in the lock.
    rego = project / "rego" / "prompt_policy.rego"
    rego.write_text(rego.read_text().replace(old[1], new))
    loaded = load_specs(project)
    assert policy_versions.lock(loaded, validate(loaded, check_lock=False).environments)[1] == []
    after = compiled_values(project, env)

    assert before["policy"]["bundleRevision"] != after["policy"]["bundleRevision"]
    assert after["policy"]["prompt"]["version"] == new
    assert before["litellm"]["guardrails"] is proxy_rolls
    old, new = parse_manifests(render(before)), parse_manifests(render(after))

    def template(manifests: list[Any], name: str) -> dict[str, Any]:
        return find(manifests, "Deployment", name)["spec"]["template"]

    # A changed pod template is what makes Kubernetes replace the pods.
    assert template(old, "policy-gateway") != template(new, "policy-gateway")
    assert (template(old, "llm-provider") != template(new, "llm-provider")) is proxy_rolls


def test_a_mode_change_from_monitor_to_enforce_rolls_the_gateway(project: Path, render: Render) -> None:
    policies = project / "specs" / "policies.yaml"
    text = policies.read_text()
    monitor = text.replace(
        "mode: {dev: monitor, staging: enforce, prod: enforce}",
        "mode: {dev: monitor, staging: monitor, prod: enforce}",
        1,
    )
    assert monitor != text
    policies.write_text(monitor)
    during = compiled_values(project, "staging")
    policies.write_text(text)
    enforced = compiled_values(project, "staging")
    assert (during["policy"]["prompt"]["mode"], enforced["policy"]["prompt"]["mode"]) == ("monitor", "enforce")
    old = find(parse_manifests(render(during)), "Deployment", "policy-gateway")
    new = find(parse_manifests(render(enforced)), "Deployment", "policy-gateway")
    assert old["spec"]["template"] != new["spec"]["template"]


def test_spec_labels_replace_the_chart_default_labels(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text(
        "deployment:\n  network_policy:\n"
        "    client_pod_labels: {team: search}\n"
        "    redis_pod_labels: {app: shared-redis}\n"
    )
    manifests = parse_manifests(render(compiled_values(project, "prod")))
    policy = find(manifests, "NetworkPolicy", "policy-gateway")["spec"]
    client_peer = policy["ingress"][0]["from"][1]
    assert client_peer["podSelector"]["matchLabels"] == {"team": "search"}
    redis_peer = policy["egress"][1]["to"][0]
    assert redis_peer["podSelector"]["matchLabels"] == {"app": "shared-redis"}


def test_redis_url_with_a_password_comes_from_the_secret(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text("deployment:\n  redis_url_from_secret: true\n")
    manifests = parse_manifests(render(compiled_values(project, "prod")))
    assert "REDIS_URL" not in find(manifests, "ConfigMap", "policy-gateway-env")["data"]
    pod = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]
    (redis_url,) = [v for v in pod["containers"][0]["env"] if v["name"] == "REDIS_URL"]
    assert redis_url["valueFrom"]["secretKeyRef"] == {"name": "policy-gateway-secrets", "key": "REDIS_URL"}


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/example/policy-gateway:0.2.0@sha256:" + "ab" * 32,
        "ghcr.io/example/policy-gateway@sha256:" + "cd" * 32,
        "registry.internal:5000/policy-gateway:0.2.0",
        "registry.internal:5000/policy-gateway",
    ],
)
def test_the_pod_runs_exactly_the_image_the_specs_name(project: Path, render: Render, image: str) -> None:
    specs = project / "specs" / "gateway.yaml"
    text = specs.read_text()
    assert "image: ghcr.io/example/policy-gateway:0.1.0\n" in text
    specs.write_text(text.replace("image: ghcr.io/example/policy-gateway:0.1.0\n", f"image: {image}\n"))
    manifests = parse_manifests(render(compiled_values(project, "prod")))
    (container,) = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]["containers"]
    expected = image if ("@" in image or image.count(":") == 2) else f"{image}:latest"
    assert container["image"] == expected


def test_ingress_from_the_specs_is_valid_kubernetes(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text(
        "deployment:\n  ingress: {enabled: true, host: llm.example.com, tls_secret_name: llm-tls}\n"
    )
    manifests = parse_manifests(render(compiled_values(project, "staging")))  # prod has an ingress of its own
    ingress = find(manifests, "Ingress", "policy-gateway")
    kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True)
    assert ingress["spec"]["tls"] == [{"hosts": ["llm.example.com"], "secretName": "llm-tls"}]
    # nginx's 60 s default would cut the 300 s image and transcription models
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-body-size": "1m",
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "300",
    }
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "llm.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "policy-gateway", "port": {"name": "http"}}


def test_network_policies_can_be_left_to_the_cluster(project: Path, render: Render) -> None:
    (project / "specs" / "deployment.yaml").write_text("deployment:\n  network_policy: {enabled: false}\n")
    manifests = parse_manifests(render(compiled_values(project, "prod")))
    assert [m for m in manifests if m.kind == "NetworkPolicy"] == []


def test_redis_sentinel_reaches_the_gateway_in_helm_and_compose(project: Path, render: Render) -> None:
    (project / "specs" / "redis.yaml").write_text(
        "redis:\n"
        "  sentinel:\n"
        "    sentinels: [redis-sentinel-0.redis:26379, redis-sentinel-1.redis:26379, redis-sentinel-2.redis:26380]\n"
        "    master_name: gateway\n"
        "  password_env: REDIS_PASSWORD_PROD\n"
    )
    result = compile_project(project, project / "generated")
    values = helm.values_from_yaml(result.files["prod/helm/values.yaml"].decode())
    manifests = parse_manifests(render(values))
    env = find(manifests, "ConfigMap", "policy-gateway-env")["data"]
    assert "REDIS_URL" not in env
    assert env["REDIS_SENTINELS"] == (
        "redis-sentinel-0.redis:26379,redis-sentinel-1.redis:26379,redis-sentinel-2.redis:26380"
    )
    assert env["REDIS_SENTINEL_MASTER"] == "gateway"
    pod = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]
    assert "REDIS_URL" not in {v["name"] for v in pod["containers"][0]["env"]}  # nor from the Secret
    (password,) = [v for v in pod["containers"][0]["env"] if v["name"] == "REDIS_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": "policy-gateway-secrets", "key": "REDIS_PASSWORD_PROD"}
    gateway_policy = find(manifests, "NetworkPolicy", "policy-gateway")
    redis_ports = {p["port"] for p in gateway_policy["spec"]["egress"][1]["ports"]}
    assert redis_ports == {6379, 26379, 26380}  # the master and every sentinel
    compose = result.files["prod/docker-compose.yml"].decode()
    assert "REDIS_PASSWORD: ${REDIS_PASSWORD_PROD:?set REDIS_PASSWORD_PROD (see .env.example)}" in compose
    assert "REDIS_SENTINEL_MASTER: gateway" in compose and "REDIS_URL" not in compose
    assert "REDIS_PASSWORD_PROD=\n" in result.files["prod/.env.example"].decode()
