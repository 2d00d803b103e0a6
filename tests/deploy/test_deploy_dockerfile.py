"""The gateway image definition: hadolint clean, and the properties the deployment relies on.

No Docker engine runs here, so the image is not built; these tests read the Dockerfile as the
build would (instructions, with line continuations joined).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helmchart import find, load_values, parse_manifests, tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, comments dropped, continuations joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_dockerfile_is_clean_under_hadolint() -> None:
    hadolint = tool("hadolint")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_is_multi_stage_on_a_slim_python() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) == 2
    arg_default = next(args for keyword, args in instructions() if keyword == "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-\w+", arg_default)


def test_runtime_stage_runs_as_uid_1000_under_tini() -> None:
    stage = final_stage()
    assert ("USER", "1000:1000") in stage
    entrypoint = next(args for keyword, args in stage if keyword == "ENTRYPOINT")
    assert entrypoint == '["/usr/bin/tini", "--", "/app/entrypoint.sh"]'
    assert any("tini=" in args for keyword, args in stage if keyword == "RUN")


def test_healthcheck_probes_liveliness() -> None:
    healthchecks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
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
def test_oci_labels_are_set(label: str) -> None:
    labels = " ".join(args for keyword, args in final_stage() if keyword == "LABEL")
    assert f"{label}=" in labels


def test_only_runtime_dependencies_are_installed() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    installs = re.findall(r"pip install ([^&]*)", runs)
    assert installs, "no pip install found"
    assert '".[runtime]"' in runs
    for extra in ("[dev]", "[stack]", "dev]", "litellm", "pytest"):
        assert all(extra not in args for args in installs), extra
    assert "opa-golib-python-bindings==0.4.4" in runs


def test_compiled_artifacts_and_entrypoint_are_baked_in() -> None:
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert "generated/ /app/generated/" in copies
    assert "--chmod=0755 deploy/docker/entrypoint.sh /app/entrypoint.sh" in copies
    # Not the specs, not the tests: the image runs compiled output only.
    assert not any(args.startswith(("specs", "tests", ".")) for args in copies)


def test_build_context_ignores_everything_the_image_does_not_need() -> None:
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :].count("!tests/") == 0
    assert "*" in ignore
    assert "!generated/" in ignore


def test_image_and_chart_agree_on_paths_user_and_variables(
    render: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    manifests = parse_manifests(render(load_values("prod")))
    pod = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env_lines = " ".join(args for keyword, args in final_stage() if keyword == "ENV")
    generated_dir = re.search(r"GENERATED_DIR=(\S+)", env_lines)
    assert generated_dir is not None
    args = container["args"]
    assert args[args.index("--generated") + 1] == generated_dir.group(1)
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == next(
        args for keyword, args in final_stage() if keyword == "USER"
    )
    entrypoint = (DOCKERFILE.parent / "entrypoint.sh").read_text()
    for var in container["env"]:
        if var["name"].startswith(("EXPECTED_", "GATEWAY_")):
            assert "${" + var["name"] + ":-" in entrypoint, var["name"]
