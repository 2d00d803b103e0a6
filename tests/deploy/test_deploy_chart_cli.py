"""The chart through the validation chain the field uses, as CLIs: `helm lint --strict` and
`helm template` for every environment, the rendered manifests through `kubeconform -strict`, and
conftest running the project's deployment rules (deploy/policy/workloads.rego) on them.

These replace the SDK's lint and kubernetes-validate's check (test_deploy_chart.py keeps what
the SDK does better: schema errors as exceptions, renders of mutated values, snapshots).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fieldtools import CONFTEST_NAMESPACE, DEPLOY_POLICY, field_tool, run, write_kubeconform_schemas
from helmchart import (
    CHART_DIR,
    ENVIRONMENTS,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    load_values,
    parse_manifests,
    values_file,
)
from ruamel.yaml import YAML

YAML_SAFE = YAML(typ="safe", pure=True)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML_SAFE.load_all(text) if doc]


def dump(docs: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w") as out:
        YAML_SAFE.dump_all(docs, out)
    return path


@pytest.fixture(scope="module")
def helm() -> str:
    return field_tool("helm")


@pytest.fixture(scope="module")
def rendered(helm: str) -> dict[str, str]:
    """`helm template` of every environment with its generated values."""
    out = {}
    for env in ENVIRONMENTS:
        proc = run(helm, "template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE,
                   "--kube-version", KUBE_VERSION, "-f", str(values_file(env)))
        assert proc.returncode == 0, proc.stderr
        out[env] = proc.stdout
    return out


@pytest.fixture(scope="module")
def schema_location(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    kinds = {doc["kind"] for text in rendered.values() for doc in documents(text)}
    return write_kubeconform_schemas(KUBE_VERSION, kinds, tmp_path_factory.mktemp("kubeconform-schemas"))


@pytest.fixture(scope="module")
def kubeconform(schema_location: str) -> Callable[[Path], tuple[int, dict[str, Any]]]:
    binary = field_tool("kubeconform")

    def validate(path: Path) -> tuple[int, dict[str, Any]]:
        # No -ignore-missing-schemas: a kind without a schema is an error, not a skip.
        proc = run(binary, "-strict", "-summary", "-output", "json", "-kubernetes-version", KUBE_VERSION,
                   "-schema-location", schema_location, str(path))
        return proc.returncode, json.loads(proc.stdout)

    return validate


@pytest.fixture(scope="module")
def conftest() -> Callable[[Path], tuple[int, list[str], int]]:
    binary = field_tool("conftest")

    def test(path: Path) -> tuple[int, list[str], int]:
        """exit code, the failure messages, how many checks passed"""
        proc = run(binary, "test", "--no-color", "--output", "json", "--policy", str(DEPLOY_POLICY),
                   "--namespace", CONFTEST_NAMESPACE, str(path))
        assert proc.stdout, proc.stderr
        results = json.loads(proc.stdout)
        failures = sorted(f["msg"] for r in results for f in r.get("failures") or [])
        return proc.returncode, failures, sum(r.get("successes", 0) for r in results)

    return test


# --- helm ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_lint_strict_passes_with_the_generated_values(helm: str, env: str) -> None:
    proc = run(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART_DIR), "-f", str(values_file(env)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


def test_helm_lint_strict_passes_with_the_charts_own_defaults(helm: str) -> None:
    proc = run(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART_DIR))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_helm_lint_strict_fails_on_values_the_schema_refuses(helm: str, tmp_path: Path) -> None:
    values = YAML_SAFE.load(values_file("prod").read_text())
    values["gateway"]["env"]["POLICY_GATEWAY_FAIL_MODE"] = "open"
    proc = run(helm, "lint", "--strict", str(CHART_DIR), "-f", str(dump([values], tmp_path / "values.yaml")))
    assert proc.returncode == 1
    assert "/gateway/env/POLICY_GATEWAY_FAIL_MODE" in proc.stdout + proc.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_cli_renders_what_the_sdk_renders(
    env: str, rendered: dict[str, str], render: Callable[[dict[str, Any]], dict[str, str]]
) -> None:
    # The snapshots of test_deploy_chart.py come from the SDK: they are what `helm template` gives.
    sdk = sorted((m.kind, m.name, json.dumps(m.doc, sort_keys=True)) for m in parse_manifests(render(load_values(env))))
    cli = sorted((d["kind"], d["metadata"]["name"], json.dumps(d, sort_keys=True)) for d in documents(rendered[env]))
    assert cli == sdk


# --- kubeconform -----------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_manifests_pass_kubeconform_strict(
    env: str, rendered: dict[str, str], kubeconform: Callable[[Path], tuple[int, dict[str, Any]]], tmp_path: Path
) -> None:
    manifests = tmp_path / f"{env}.yaml"
    manifests.write_text(rendered[env])
    code, report = kubeconform(manifests)
    assert code == 0, report
    summary = report["summary"]
    assert (summary["invalid"], summary["errors"], summary["skipped"]) == (0, 0, 0)
    assert summary["valid"] == len(documents(rendered[env]))


def test_kubeconform_refuses_a_field_kubernetes_does_not_know(
    rendered: dict[str, str], kubeconform: Callable[[Path], tuple[int, dict[str, Any]]], tmp_path: Path
) -> None:
    docs = documents(rendered["prod"])
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "policy-gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paths"] = "/ready"
    code, report = kubeconform(dump(docs, tmp_path / "prod.yaml"))
    assert code == 1
    (invalid,) = [r for r in report["resources"] if r["status"] == "statusInvalid"]
    assert (invalid["kind"], invalid["name"]) == ("Deployment", "policy-gateway")
    assert "additional properties 'paths' not allowed" in invalid["msg"]


# --- conftest: the project's deployment rules ------------------------------------------------


def test_deployment_rules_pass_their_own_opa_tests() -> None:
    proc = run(field_tool("opa"), "test", str(DEPLOY_POLICY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: " in proc.stdout and "FAIL" not in proc.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_manifests_keep_the_deployment_rules(
    env: str, rendered: dict[str, str], conftest: Callable[[Path], tuple[int, list[str], int]], tmp_path: Path
) -> None:
    manifests = tmp_path / f"{env}.yaml"
    manifests.write_text(rendered[env])
    code, failures, passed = conftest(manifests)
    assert (code, failures) == (0, [])
    assert passed > 0


def _gateway_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "policy-gateway")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, leaf = path.split(".")

    def mutate(container: dict[str, Any]) -> None:
        node = container
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value

    return mutate


BROKEN_RULES = {
    "runs-as-root": (_set("securityContext.runAsNonRoot", False),
                     'container "gateway" may run as root'),
    "uid-0": (_set("securityContext.runAsUser", 0), 'container "gateway" runs as uid 0'),
    "writable-root": (_set("securityContext.readOnlyRootFilesystem", False),
                      'container "gateway" has a writable root filesystem'),
    "latest-tag": (_set("image", "ghcr.io/example/policy-gateway:latest"),
                   'container "gateway" uses image "ghcr.io/example/policy-gateway:latest", which is not pinned'),
    "untagged": (_set("image", "ghcr.io/example/policy-gateway"),
                 'container "gateway" uses image "ghcr.io/example/policy-gateway", which is not pinned'),
    "no-cpu-limit": (_set("resources.limits.cpu", None), 'container "gateway" sets no cpu limits'),
    "no-memory-request": (_set("resources.requests.memory", None), 'container "gateway" sets no memory requests'),
    "no-readiness-probe": (_set("readinessProbe", None), 'container "gateway" has no readinessProbe'),
    "no-liveness-probe": (_set("livenessProbe", None), 'container "gateway" has no livenessProbe'),
}


@pytest.mark.parametrize(("mutate", "message"), BROKEN_RULES.values(), ids=BROKEN_RULES.keys())
def test_conftest_refuses_a_rendered_manifest_that_breaks_a_rule(
    rendered: dict[str, str], conftest: Callable[[Path], tuple[int, list[str], int]], tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None], message: str,
) -> None:
    docs = copy.deepcopy(documents(rendered["prod"]))
    mutate(_gateway_container(docs))
    code, failures, _ = conftest(dump(docs, tmp_path / "prod.yaml"))
    assert code == 1
    (failure,) = failures
    assert failure.startswith(f"Deployment/policy-gateway: {message}")
