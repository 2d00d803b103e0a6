"""The image's entrypoint script, run with /bin/sh as the container runs it (no Docker engine here).

It must refuse to start anything in production without the gateway (seed 000), without a compiled
environment, or when the image holds other compiled files than the Helm values pin.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from helmchart import tool

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "entrypoint.sh"
EX_CONFIG = 78


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    started: bool


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """A compiled tree with one environment, as the image bakes it under /app/generated."""
    env_dir = tmp_path / "generated" / "prod"
    (env_dir / "opa").mkdir(parents=True)
    (env_dir / "gateway.json").write_text('{"environment": "prod"}\n')
    (env_dir / "opa" / "bundle.tar.gz").write_bytes(b"not really a bundle")
    return tmp_path / "generated"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(env: Mapping[str, str], generated: Path, *command: str) -> Run:
    """Run the entrypoint; the default command touches a marker so we see whether it started."""
    marker = generated.parent / "started"
    marker.unlink(missing_ok=True)
    argv = command or ("touch", str(marker))
    full_env = {"PATH": os.environ["PATH"], "GENERATED_DIR": str(generated), **env}
    proc = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *argv],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, marker.exists())


def assert_refused(result: Run, *fragments: str) -> None:
    assert result.code == EX_CONFIG
    assert not result.started
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("policy-gateway entrypoint: refusing to start: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("enable", [None, "false", "", "TRUE", "1", "yes"])
def test_production_without_gateway_refuses_before_starting(generated: Path, enable: str | None) -> None:
    env = {"SEA_ENV": "production", "GATEWAY_ENV": "prod"}
    if enable is not None:
        env["LLM_ENABLE_POLICY_GATEWAY"] = enable
    result = run(env, generated)
    assert_refused(result, "SEA_ENV=production requires LLM_ENABLE_POLICY_GATEWAY=true")


def test_production_fail_fast_comes_before_any_other_check(tmp_path: Path) -> None:
    # No compiled tree at all: the production rule is still the reason given.
    result = run({"SEA_ENV": "production"}, tmp_path / "nowhere")
    assert_refused(result, "LLM_ENABLE_POLICY_GATEWAY=true", "<unset>")


def test_production_with_gateway_enabled_starts(generated: Path) -> None:
    env = {"SEA_ENV": "production", "LLM_ENABLE_POLICY_GATEWAY": "true", "GATEWAY_ENV": "prod"}
    result = run(env, generated)
    assert (result.code, result.stderr, result.started) == (0, "", True)


@pytest.mark.parametrize("sea_env", ["development", "staging", ""])
def test_gateway_may_be_off_outside_production(generated: Path, sea_env: str) -> None:
    env = {"SEA_ENV": sea_env, "LLM_ENABLE_POLICY_GATEWAY": "false", "GATEWAY_ENV": "prod"}
    assert run(env, generated).started


def test_no_command_and_no_environment_name_refuses(generated: Path) -> None:
    proc = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT)],
        env={"PATH": os.environ["PATH"], "GENERATED_DIR": str(generated)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert_refused(Run(proc.returncode, proc.stdout, proc.stderr, False), "GATEWAY_ENV is not set")


def test_a_given_command_runs_without_environment_name(generated: Path) -> None:
    # docker compose passes `gatewayctl serve --env … --generated …` itself and mounts the tree.
    assert run({"SEA_ENV": "development"}, generated).started


def test_production_rule_also_guards_a_given_command(generated: Path) -> None:
    assert_refused(run({"SEA_ENV": "production"}, generated), "LLM_ENABLE_POLICY_GATEWAY")


@pytest.mark.parametrize("name", ["staging", "../prod", ".hidden"])
def test_environment_that_is_not_compiled_refuses(generated: Path, name: str) -> None:
    assert_refused(run({"GATEWAY_ENV": name}, generated), f"'{name}'")


def test_pinned_digests_that_match_start(generated: Path) -> None:
    env = {
        "GATEWAY_ENV": "prod",
        "EXPECTED_POLICY_BUNDLE_SHA256": sha256(generated / "prod" / "opa" / "bundle.tar.gz"),
        "EXPECTED_GATEWAY_SETTINGS_SHA256": sha256(generated / "prod" / "gateway.json"),
    }
    assert run(env, generated).started


@pytest.mark.parametrize(
    ("variable", "label"),
    [
        ("EXPECTED_POLICY_BUNDLE_SHA256", "policy bundle"),
        ("EXPECTED_GATEWAY_SETTINGS_SHA256", "gateway settings"),
    ],
)
def test_image_from_another_compile_refuses(generated: Path, variable: str, label: str) -> None:
    env = {"GATEWAY_ENV": "prod", variable: "0" * 64}
    assert_refused(run(env, generated), label, "the deployment expects " + "0" * 64)


def test_pinned_bundle_that_is_missing_refuses(generated: Path) -> None:
    (generated / "prod" / "opa" / "bundle.tar.gz").unlink()
    env = {"GATEWAY_ENV": "prod", "EXPECTED_POLICY_BUNDLE_SHA256": "0" * 64}
    assert_refused(run(env, generated), "policy bundle", "is missing")


def test_default_command_serves_the_environment(generated: Path, tmp_path: Path) -> None:
    # A stand-in gatewayctl on PATH records the arguments the entrypoint execs it with.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gatewayctl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT)],
        env={"PATH": path, "GENERATED_DIR": str(generated), "GATEWAY_ENV": "prod"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "serve",
        "--env",
        "prod",
        "--generated",
        str(generated),
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]


def test_exit_status_of_the_command_is_passed_through(generated: Path) -> None:
    assert run({"GATEWAY_ENV": "prod"}, generated, "sh", "-c", "exit 3").code == 3


def test_entrypoint_is_clean_under_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    proc = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", str(ENTRYPOINT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
