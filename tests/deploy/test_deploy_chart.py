"""The chart, rendered for every environment from the values the compiler generated.

Helm itself (its Go SDK, in-process) validates the values against values.schema.json and renders;
the rendered manifests are snapshots (`pytest --snapshot-update`). `helm lint --strict`, kubeconform
and conftest run as the field's CLIs in test_deploy_chart_cli.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tarfile
from collections.abc import Callable
from typing import Any

import helm_python as helm
import pytest
from helmchart import (
    ENVIRONMENTS,
    GENERATED,
    Manifest,
    find,
    load_values,
    parse_manifests,
)
from ruamel.yaml import YAML
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

Render = Callable[[dict[str, Any]], dict[str, str]]
SECRET_NAME_RE = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)")


class YamlSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def values(env: str) -> dict[str, Any]:
    return load_values(env)


@pytest.fixture
def manifests(render: Render, values: dict[str, Any]) -> list[Manifest]:
    return parse_manifests(render(values))


def deployments(manifests: list[Manifest]) -> list[dict[str, Any]]:
    return [m.doc for m in manifests if m.kind == "Deployment"]


# --- Helm: schema, render --------------------------------------------------------------


def test_generated_values_exist_for_every_environment() -> None:
    compiled = sorted(p.parent.parent.name for p in GENERATED.glob("*/helm/values.yaml"))
    assert compiled == sorted(ENVIRONMENTS)


def test_generated_values_meet_the_chart_schema(chart: helm.Chart, values: dict[str, Any]) -> None:
    chart.validate_schema(chart.merge_values(values))


def _set(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("gateway.env.LLM_ENABLE_POLICY_GATEWAY", "false", "/gateway/env/LLM_ENABLE_POLICY_GATEWAY"),
        ("gateway.env.POLICY_GATEWAY_FAIL_MODE", "open", "/gateway/env/POLICY_GATEWAY_FAIL_MODE"),
        ("gateway.env.OPENAI_API_KEY", "sk-live-123", "invalid propertyName 'OPENAI_API_KEY'"),
        ("gateway.secretEnv.LLM_PROVIDER_API_KEY", "sk live", "/gateway/secretEnv/LLM_PROVIDER_API_KEY"),
        ("checksums.policyBundle", "not-a-digest", "/checksums/policyBundle"),
        ("gateway.replicas", 0, "/gateway/replicas"),
        ("gateway.port", 70000, "/gateway/port"),
        ("policy.prompt.mode", "audit", "/policy/prompt/mode"),
        ("securityContext.readOnlyRootFilesystem", False, "/securityContext/readOnlyRootFilesystem"),
        ("gateway.replica", 3, "additional properties 'replica' not allowed"),
    ],
)
def test_schema_rejects_unsafe_or_malformed_prod_values(render: Render, path: str, value: Any, message: str) -> None:
    bad = _set(load_values("prod"), path, value)
    with pytest.raises(helm.HelmValuesError) as caught:
        render(bad)
    assert message in str(caught.value)


def test_autoscaling_bounds_out_of_order_fail_the_render(render: Render) -> None:
    bad = _set(load_values("prod"), "autoscaling.maxReplicas", 1)
    with pytest.raises(helm.HelmRenderError, match="maxReplicas \\(1\\) is below"):
        render(bad)


def test_rendered_manifests_match_snapshot(render: Render, values: dict[str, Any], snapshot: Any) -> None:
    rendered = render(values)
    text = "".join(
        f"---\n# Source: {template}\n{rendered[template].strip()}\n"
        for template in sorted(rendered)
        if rendered[template].strip()
    )
    assert text == snapshot(extension_class=YamlSnapshot)


# --- What the deployment promises ------------------------------------------------------------


def test_pods_run_as_uid_1000_read_only_with_no_capabilities(manifests: list[Manifest]) -> None:
    for deployment in deployments(manifests):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]


def test_probes_use_the_health_endpoints(manifests: list[Manifest]) -> None:
    for deployment in deployments(manifests):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"


def test_no_secret_value_is_rendered(manifests: list[Manifest]) -> None:
    assert not [m for m in manifests if m.kind == "Secret"]
    for deployment in deployments(manifests):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                if SECRET_NAME_RE.search(var["name"]):
                    assert set(var) == {"name", "valueFrom"}, var
                    assert var["valueFrom"]["secretKeyRef"]["name"] == "policy-gateway-secrets"
    for config_map in (m.doc for m in manifests if m.kind == "ConfigMap"):
        for key in config_map["data"]:
            assert not SECRET_NAME_RE.search(key), key


def test_gateway_environment_agrees_with_env_example(env: str, manifests: list[Manifest]) -> None:
    data = find(manifests, "ConfigMap", "policy-gateway-env")["data"]
    example = dict(
        line.split("=", 1)
        for line in (GENERATED / env / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and not line.endswith("=")
    )
    shared = set(data) & set(example)
    assert {"SEA_ENV", "LLM_ENABLE_POLICY_GATEWAY", "POLICY_GATEWAY_FAIL_MODE", "LLM_PROVIDER_URL"} <= shared
    assert {k: data[k] for k in shared} == {k: example[k] for k in shared}


def test_gateway_serves_the_compiled_environment(env: str, manifests: list[Manifest]) -> None:
    pod = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:4] == ["gatewayctl", "serve", "--env", env]
    env_vars = {v["name"]: v.get("value") for v in container["env"]}
    assert env_vars["GATEWAY_ENV"] == env


def test_operations_port_is_a_container_port_scraped_by_prometheus_and_not_on_the_service(
    env: str, manifests: list[Manifest]
) -> None:
    settings = json.loads((GENERATED / env / "gateway.json").read_text())
    template = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "operations": settings["operations_port"]}
    env_vars = {v["name"]: v.get("value") for v in container["env"]}
    assert env_vars["POLICY_GATEWAY_OPERATIONS_PORT"] == str(settings["operations_port"])
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings["operations_port"])
    assert annotations["prometheus.io/path"] == "/metrics"
    service = find(manifests, "Service", "policy-gateway")
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]  # the Ingress and clients see no metrics


def test_services_keep_the_registry_names_and_ports(env: str, manifests: list[Manifest]) -> None:
    settings = (GENERATED / env / "gateway.json").read_text()
    gateway = find(manifests, "Service", "policy-gateway")
    proxy = find(manifests, "Service", "llm-provider")
    assert gateway["spec"]["ports"][0]["port"] == 8080
    assert proxy["spec"]["ports"][0]["port"] == 8001
    assert '"llm_provider_url": "http://llm-provider:8001/v1"' in settings


def test_litellm_configmap_holds_the_generated_config(env: str, manifests: list[Manifest]) -> None:
    yaml = YAML(typ="safe", pure=True)
    shipped = yaml.load(find(manifests, "ConfigMap", "llm-provider-config")["data"]["config.yaml"])
    compiled = yaml.load((GENERATED / env / "litellm" / "config.yaml").read_text())
    assert shipped == compiled


def test_checksums_are_the_digests_of_the_compiled_files(env: str, values: dict[str, Any]) -> None:
    env_dir = GENERATED / env
    assert values["checksums"] == {
        "policyBundle": sha256((env_dir / "opa" / "bundle.tar.gz").read_bytes()),
        "gatewaySettings": sha256((env_dir / "gateway.json").read_bytes()),
    }


def test_bundle_revision_is_the_one_in_the_bundle_manifest(env: str, values: dict[str, Any]) -> None:
    with tarfile.open(GENERATED / env / "opa" / "bundle.tar.gz") as bundle:
        member = bundle.extractfile(".manifest")
        assert member is not None
        manifest = json.load(member)
    assert values["policy"]["bundleRevision"] == manifest["revision"]


def test_pod_annotations_carry_the_policy_and_config_checksums(
    values: dict[str, Any], manifests: list[Manifest]
) -> None:
    gateway = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["metadata"]
    assert gateway["annotations"]["checksum/policy-bundle"] == values["checksums"]["policyBundle"]
    assert gateway["annotations"]["checksum/gateway-settings"] == values["checksums"]["gatewaySettings"]
    proxy = find(manifests, "Deployment", "llm-provider")["spec"]["template"]["metadata"]
    assert re.fullmatch(r"[0-9a-f]{64}", proxy["annotations"]["checksum/litellm-config"])


@pytest.mark.parametrize(
    ("path", "value", "deployment", "annotation"),
    [
        ("checksums.policyBundle", "ab" * 32, "policy-gateway", "checksum/policy-bundle"),
        ("checksums.gatewaySettings", "cd" * 32, "policy-gateway", "checksum/gateway-settings"),
        ("gateway.env.POLICY_GATEWAY_CB_FAILURE_THRESHOLD", "6", "policy-gateway", "checksum/gateway-env"),
        ("litellm.config.router_settings.num_retries", 7, "llm-provider", "checksum/litellm-config"),
    ],
)
def test_a_changed_compile_changes_the_pod_template(
    render: Render, path: str, value: Any, deployment: str, annotation: str
) -> None:
    # Kubernetes rolls a Deployment's pods exactly when its pod template changes.
    before_values = load_values("prod")
    after_values = _set(before_values, path, value)
    before = find(parse_manifests(render(before_values)), "Deployment", deployment)
    after = find(parse_manifests(render(after_values)), "Deployment", deployment)
    old = before["spec"]["template"]["metadata"]["annotations"][annotation]
    new = after["spec"]["template"]["metadata"]["annotations"][annotation]
    assert old != new


def test_default_deny_and_least_privilege_network_policies(manifests: list[Manifest]) -> None:
    deny = find(manifests, "NetworkPolicy", "policy-gateway-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny

    gateway = find(manifests, "NetworkPolicy", "policy-gateway")["spec"]
    clients, operations = gateway["ingress"]
    assert [p["port"] for p in clients["ports"]] == [8080]
    namespaces = [p["namespaceSelector"].get("matchLabels") for p in clients["from"] if "podSelector" not in p]
    assert namespaces == [{"kubernetes.io/metadata.name": "ingress-nginx"}]
    # metrics and status: Prometheus only, on the operations port only
    assert [p["port"] for p in operations["ports"]] == [8081]
    assert operations["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    egress_ports = {(p["protocol"], p["port"]) for rule in gateway["egress"] for p in rule["ports"]}
    assert {("TCP", 8001), ("TCP", 6379), ("UDP", 53), ("TCP", 53)} <= egress_ports
    assert ("TCP", 443) not in egress_ports  # the gateway never calls a provider itself

    proxy = find(manifests, "NetworkPolicy", "llm-provider")["spec"]
    (from_gateway, from_prometheus) = proxy["ingress"][0]["from"]
    assert from_gateway["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "policy-gateway"
    assert from_prometheus["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    https = [r for r in proxy["egress"] if any(p["port"] == 443 for p in r["ports"])]
    (rule,) = https
    assert rule["to"][0]["ipBlock"]["except"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


# --- Tiers of seed 001 -----------------------------------------------------------------------

TIERS = {
    # env: (gateway replicas or HPA bounds, cpu req, cpu lim, mem req, mem lim, target cpu %)
    "dev": (1, None, "100m", "500m", "256Mi", "512Mi", None),
    "staging": (None, (2, 10), "250m", "1000m", "512Mi", "2Gi", 70),
    "prod": (None, (3, 20), "500m", "2000m", "1Gi", "4Gi", 60),
}


def test_gateway_follows_the_resource_tier_of_its_environment(env: str, manifests: list[Manifest]) -> None:
    replicas, bounds, cpu_req, cpu_lim, mem_req, mem_lim, target_cpu = TIERS[env]
    deployment = find(manifests, "Deployment", "policy-gateway")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": cpu_req, "memory": mem_req},
        "limits": {"cpu": cpu_lim, "memory": mem_lim},
    }
    hpas = [m.doc for m in manifests if m.kind == "HorizontalPodAutoscaler"]
    pdbs = [m.doc for m in manifests if m.kind == "PodDisruptionBudget"]
    if bounds is None:
        assert deployment["spec"]["replicas"] == replicas
        assert hpas == [] and pdbs == []
        return
    # The HPA owns the replica count: a fixed one would fight it on every apply.
    assert "replicas" not in deployment["spec"]
    (hpa,) = hpas
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == bounds
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
    assert targets == {"cpu": target_cpu, "memory": 80}
    assert {p["metadata"]["name"]: p["spec"]["minAvailable"] for p in pdbs} == {
        "policy-gateway": 1,
        "llm-provider": 1,
    }


def test_proxy_with_in_proxy_guardrails_runs_the_policy_image_and_pins_the_bundle(
    env: str, values: dict[str, Any], manifests: list[Manifest]
) -> None:
    template = find(manifests, "Deployment", "llm-provider")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"].endswith("/config.yaml")]
    # A single file (subPath): the guardrail finds ../opa/bundle.tar.gz from the config's real path.
    assert mount == {
        "name": "config",
        "mountPath": f"/app/generated/{env}/litellm/config.yaml",
        "subPath": "config.yaml",
        "readOnly": True,
    }
    assert container["args"][:2] == ["--config", mount["mountPath"]]
    env_vars = {v["name"]: v.get("value") for v in container["env"]}
    annotations = template["metadata"]["annotations"]
    # the specs declare client keys: LiteLLM reads their table beside the config, from the ConfigMap
    (identities,) = [m for m in container["volumeMounts"] if m["mountPath"].endswith("/identities.json")]
    assert identities == {**mount, "mountPath": f"/app/generated/{env}/litellm/identities.json",
                          "subPath": "identities.json"}
    configmap = find(manifests, "ConfigMap", "llm-provider-config")
    assert json.loads(configmap["data"]["identities.json"]) == values["litellm"]["identities"]
    assert "checksum/litellm-identities" in annotations
    assert container["image"] == "ghcr.io/example/policy-gateway-litellm:0.1.0"  # runtime/ inside
    if values["litellm"]["guardrails"]:
        assert env_vars["GATEWAY_ENV"] == env
        assert env_vars["EXPECTED_POLICY_BUNDLE_SHA256"] == values["checksums"]["policyBundle"]
        assert annotations["checksum/policy-bundle"] == values["checksums"]["policyBundle"]
    else:
        assert "EXPECTED_POLICY_BUNDLE_SHA256" not in env_vars
        assert "checksum/policy-bundle" not in annotations
