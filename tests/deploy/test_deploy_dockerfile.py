"""The image definitions: hadolint clean, and the properties the deployment relies on.

`Dockerfile` is the gateway; `Dockerfile.litellm` is the LiteLLM proxy with the compiled policies
inside it (environments with `guardrails: in_proxy`). No Docker engine runs here, so the images
are not built; these tests read the Dockerfiles as the build would (instructions, with line
continuations joined).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helmchart import find, load_values, parse_manifests, tool

from runtime.settings import default_decision_threads

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
IMAGES = ("Dockerfile", "Dockerfile.litellm")

Steps = list[tuple[str, str]]


def instructions(name: str) -> Steps:
    """(INSTRUCTION, arguments) in order, comments dropped, continuations joined."""
    joined = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def final_stage(name: str) -> Steps:
    steps = instructions(name)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def pip_installs(name: str) -> list[str]:
    runs = " ".join(args for keyword, args in instructions(name) if keyword == "RUN")
    return re.findall(r"pip install ([^&]*)", runs)


@pytest.fixture(params=IMAGES)
def image(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_dockerfile_is_clean_under_hadolint(image: str) -> None:
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "style", "--no-color", str(DOCKER / image)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_is_multi_stage_on_a_slim_python(image: str) -> None:
    steps = instructions(image)
    assert len([args for keyword, args in steps if keyword == "FROM"]) == 2
    arg_default = next(args for keyword, args in steps if keyword == "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-\w+", arg_default)


def test_runtime_stage_runs_as_uid_1000_under_tini_and_the_entrypoint(image: str) -> None:
    stage = final_stage(image)
    assert ("USER", "1000:1000") in stage
    entrypoint = next(args for keyword, args in stage if keyword == "ENTRYPOINT")
    assert entrypoint.startswith('["/usr/bin/tini", "--", "/app/entrypoint.sh"')
    assert any("tini=" in args for keyword, args in stage if keyword == "RUN")


def test_healthcheck_probes_liveliness(image: str) -> None:
    healthchecks = [args for keyword, args in final_stage(image) if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/health/liveliness" in healthchecks[0]


@pytest.mark.parametrize(
    "label",
    [
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.licenses",
    ],
)
def test_oci_labels_are_set(image: str, label: str) -> None:
    labels = " ".join(args for keyword, args in final_stage(image) if keyword == "LABEL")
    assert f"{label}=" in labels


def test_gateway_image_has_only_runtime_dependencies() -> None:
    installs = pip_installs("Dockerfile")
    assert installs, "no pip install found"
    assert installs[0].strip() == '--no-cache-dir ".[runtime]"'
    for extra in ("dev", "stack", "litellm", "pytest"):
        assert all(extra not in args for args in installs), extra
    assert any("opa-golib-python-bindings==0.4.4" in args for args in installs)


def test_litellm_image_adds_the_pinned_proxy_and_no_test_tooling() -> None:
    installs = pip_installs("Dockerfile.litellm")
    # LiteLLM at the version pyproject's stack extra pins, beside the runtime the guardrail needs.
    assert installs[0].strip() == '--no-cache-dir ".[runtime,stack]"'
    assert all("dev" not in args and "pytest" not in args for args in installs)
    assert any("opa-golib-python-bindings==0.4.4" in args for args in installs)
    entrypoint = next(args for keyword, args in final_stage("Dockerfile.litellm") if keyword == "ENTRYPOINT")
    assert entrypoint.endswith('"litellm"]')


def test_compiled_artifacts_and_entrypoint_are_baked_in(image: str) -> None:
    copies = [args for keyword, args in final_stage(image) if keyword == "COPY"]
    assert "generated/ /app/generated/" in copies
    assert "--chmod=0755 deploy/docker/entrypoint.sh /app/entrypoint.sh" in copies
    # Not the specs, not the tests: the image runs compiled output only.
    assert not any(args.startswith(("specs", "tests", ".")) for args in copies)


def test_build_context_holds_only_what_the_image_needs(image: str) -> None:
    ignore = (DOCKER / f"{image}.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :].count("!tests/") == 0
    assert {"*", "!generated/", "!runtime/", "!deploy/docker/entrypoint.sh"} <= set(ignore)


def test_image_and_chart_agree_on_paths_user_and_variables(
    render: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    manifests = parse_manifests(render(load_values("prod")))
    pod = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env_lines = " ".join(args for keyword, args in final_stage("Dockerfile") if keyword == "ENV")
    generated_dir = re.search(r"GENERATED_DIR=(\S+)", env_lines)
    assert generated_dir is not None
    args = container["args"]
    assert args[args.index("--generated") + 1] == generated_dir.group(1)
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == next(
        args for keyword, args in final_stage("Dockerfile") if keyword == "USER"
    )
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    for var in container["env"]:  # the values the chart sets for the entrypoint (not the Secret's keys)
        if "value" in var and var["name"].startswith(("EXPECTED_", "GATEWAY_")):
            assert "${" + var["name"] + ":-" in entrypoint, var["name"]


def test_the_gateway_image_gives_go_one_processor_and_the_decisions_one_thread(
    render: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    # Measured in bench/gateway.py (docs/benchmarks.md); more calling threads than Go processors
    # would wait for Go's monitor to hand the one processor over.
    env_lines = " ".join(args for keyword, args in final_stage("Dockerfile") if keyword == "ENV")
    environ = dict(re.findall(r"(\w+)=(\S+)", env_lines))
    assert environ["GOMAXPROCS"] == "1"
    assert default_decision_threads(environ) == 1
    # the chart leaves both to the image
    manifests = parse_manifests(render(load_values("prod")))
    (container,) = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]["containers"]
    names = {var["name"] for var in container.get("env", [])}
    assert not names & {"GOMAXPROCS", "POLICY_GATEWAY_DECISION_THREADS"}
