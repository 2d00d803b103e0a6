"""The chart through the validation chain the field uses, as CLIs: `helm lint --strict` and
`helm template` for every environment, the rendered manifests through `kubeconform -strict`, and
conftest running the project's deployment rules (deploy/policy/workloads.rego) on them.

These replace the SDK's lint and kubernetes-validate's check (test_deploy_chart.py keeps what
the SDK does better: schema errors as exceptions, renders of mutated values, snapshots).
"""

from __future__ import annotations

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


UNKNOWN_FIELD = "prod-unknown-field"


@pytest.fixture(scope="module")
def kubeconform(
    rendered: dict[str, str], schema_location: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """kubeconform's verdict on every resource, by file: each environment's manifests, and prod's
    with a field Kubernetes does not know. One run: kubeconform compiles each schema once per run."""
    out = tmp_path_factory.mktemp("manifests")
    files = {env: out / f"{env}.yaml" for env in [*ENVIRONMENTS, UNKNOWN_FIELD]}
    for env in ENVIRONMENTS:
        files[env].write_text(rendered[env])
    docs = documents(rendered["prod"])
    _gateway_container(docs)["readinessProbe"]["httpGet"]["paths"] = "/ready"
    dump(docs, files[UNKNOWN_FIELD])
    # No -ignore-missing-schemas: a kind without a schema is an error, not a skip.
    proc = run(field_tool("kubeconform"), "-strict", "-verbose", "-output", "json", "-kubernetes-version",
               KUBE_VERSION, "-schema-location", schema_location, *map(str, files.values()))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the unknown field, below
    resources = json.loads(proc.stdout)["resources"]
    return {env: [r for r in resources if r["filename"] == str(path)] for env, path in files.items()}


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
    env: str, rendered: dict[str, str], kubeconform: dict[str, list[dict[str, Any]]]
) -> None:
    verdicts = kubeconform[env]
    assert [r for r in verdicts if r["status"] != "statusValid"] == []
    assert len(verdicts) == len(documents(rendered[env]))


def test_kubeconform_refuses_a_field_kubernetes_does_not_know(kubeconform: dict[str, list[dict[str, Any]]]) -> None:
    (invalid,) = [r for r in kubeconform[UNKNOWN_FIELD] if r["status"] != "statusValid"]
    assert (invalid["kind"], invalid["name"], invalid["status"]) == ("Deployment", "policy-gateway", "statusInvalid")
    assert "additional properties 'paths' not allowed" in invalid["msg"]


# --- conftest: the project's deployment rules ------------------------------------------------


def test_deployment_rules_pass_their_own_opa_tests() -> None:
    proc = run(field_tool("opa"), "test", str(DEPLOY_POLICY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: " in proc.stdout and "FAIL" not in proc.stdout


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


@pytest.fixture(scope="module")
def conftest(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], int]]:
    """conftest's failures and passed checks, by file: each environment's manifests, and prod's with
    each rule of BROKEN_RULES broken (one file each). One run for all of them."""
    out = tmp_path_factory.mktemp("manifests")
    files = {env: out / f"{env}.yaml" for env in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        files[env].write_text(rendered[env])
    for name, (mutate, _) in BROKEN_RULES.items():
        docs = documents(rendered["prod"])
        mutate(_gateway_container(docs))
        files[name] = dump(docs, out / f"prod-{name}.yaml")
    proc = run(field_tool("conftest"), "test", "--no-color", "--output", "json", "--policy", str(DEPLOY_POLICY),
               "--namespace", CONFTEST_NAMESPACE, *map(str, files.values()))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken rules, below
    by_file = {r["filename"]: r for r in json.loads(proc.stdout)}
    return {name: (sorted(f["msg"] for f in by_file[str(path)].get("failures") or []),
                   by_file[str(path)].get("successes", 0)) for name, path in files.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_manifests_keep_the_deployment_rules(env: str, conftest: dict[str, tuple[list[str], int]]) -> None:
    failures, passed = conftest[env]
    assert failures == []
    assert passed > 0


@pytest.mark.parametrize("rule", BROKEN_RULES)
def test_conftest_refuses_a_rendered_manifest_that_breaks_a_rule(
    conftest: dict[str, tuple[list[str], int]], rule: str
) -> None:
    failures, _ = conftest[rule]
    (failure,) = failures
    assert failure.startswith(f"Deployment/policy-gateway: {BROKEN_RULES[rule][1]}")
