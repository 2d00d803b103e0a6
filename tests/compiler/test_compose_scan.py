"""Hand-written compose files in the repository, held against the port registry by `gatewayctl validate`.

One row per compose file under tests/specs/compose/, named for what is wrong with it; each is
placed at infra/docker-compose.yml of a copy of the project.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main

COMPOSE = Path(__file__).resolve().parents[1] / "specs" / "compose"
HERE = "infra/docker-compose.yml"

# file stem -> (exit code, the first line gatewayctl prints)
CASES: dict[str, tuple[int, str]] = {
    "unclosed_quote": (1, f"{HERE}:3:12: error: compose file cannot be parsed, so its ports and URLs go unchecked: "
                          "YAML syntax: unclosed quoted string: it runs to the end of the file (hint: close it where "
                          "it should end; or, for a file that is not yours to fix, set `compose_scan: {unparsable: "
                          "warn}` in specs/)"),
    "services_not_a_mapping": (1, f"{HERE}:1:11: error: compose file cannot be parsed, so its ports and URLs go "
                                  "unchecked: not a compose file: `services:` must be a mapping of services"),
    "alias_bomb": (1, f"{HERE}:6:39: error: compose file cannot be parsed, so its ports and URLs go unchecked: "
                      "alias *l4 expands the file to more than 50,000 YAML nodes (an alias bomb?)"),
    "provider_url_wrong_port": (1, f'{HERE}:5:25: error: environment LLM_PROVIDER_URL of service "web" uses port'
                                   ' 8002 but service "llm-provider" listens on 8001 (specs/gateway.yaml:19:21) '
                                   "(hint: use http://llm-provider:8001/v1)"),
    "gateway_url_wrong_port_list_form": (1, f'{HERE}:6:9: error: environment LLM_POLICY_GATEWAY_URL of service "web" '
                                            'uses port 8081 but service "policy-gateway" listens on 8080 '
                                            "(specs/gateway.yaml:8:21) (hint: use http://policy-gateway:8080/v1)"),
    "redis_url_wrong_host_port": (1, f'{HERE}:6:18: error: environment REDIS_URL of service "worker" uses host port '
                                     '6380 but service "redis" is published on 6379 (specs/gateway.yaml:36:11) '
                                     "(hint: use redis://localhost:6379/0)"),
    "gateway_url_points_at_provider": (1, f'{HERE}:5:31: error: environment LLM_POLICY_GATEWAY_URL of service "web" '
                                          'points at service "llm-provider", whose role is "llm-provider" (hint: '
                                          "LLM_POLICY_GATEWAY_URL must reach the policy-gateway service: "
                                          "http://policy-gateway:8080/v1)"),
    "merged_environment_wrong_port": (1, f'{HERE}:3:27: error: environment LLM_POLICY_GATEWAY_URL of service "web" '
                                         'uses port 8090 but service "policy-gateway" listens on 8080'),
    "provider_url_unknown_host": (0, f'{HERE}:5:25: warning: environment LLM_PROVIDER_URL of service "web" points at '
                                     "litellm:4000, not at the registry's llm-provider (service \"llm-provider\" on "
                                     "8001, specs/gateway.yaml:19:21) (hint: use http://llm-provider:8001/v1, or "
                                     "register this service in specs/)"),
    "urls_that_match_the_registry": (0, "specs OK: 3 environments"),
}


def validate_with_compose(project: Path, compose_file: Path) -> tuple[int, list[str]]:
    target = project / HERE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(compose_file, target)
    result = CliRunner().invoke(main, ["-C", str(project), "validate"])
    return result.exit_code, result.output.splitlines()


def test_every_compose_file_has_a_row() -> None:
    assert {p.stem for p in COMPOSE.glob("*.yml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compose_file_is_reported_at_its_location(name: str, project: Path) -> None:
    code, lines = validate_with_compose(project, COMPOSE / f"{name}.yml")
    expected_code, first = CASES[name]
    assert code == expected_code, lines
    assert lines[0].startswith(first), lines
    if code == 1:
        assert lines[-1] == "1 error found", lines


def test_a_compose_file_the_specs_silence_is_a_warning(project: Path) -> None:
    (project / "specs" / "repository.yaml").write_text("compose_scan:\n  unparsable: warn\n")
    code, lines = validate_with_compose(project, COMPOSE / "unclosed_quote.yml")
    assert code == 0, lines
    assert lines == [
        f"{HERE}:3:12: warning: compose file not checked (cannot be parsed): YAML syntax: unclosed quoted string: "
        "it runs to the end of the file (hint: close it where it should end)",
        "specs OK: 3 environments",
    ]


def test_the_compose_scan_cannot_be_overridden_per_environment(project: Path) -> None:
    gateway = project / "specs" / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace(
        "    overrides:\n", "    overrides:\n      compose_scan: {unparsable: warn}\n", 1))
    code, lines = validate_with_compose(project, COMPOSE / "urls_that_match_the_registry.yml")
    assert code == 1
    assert lines[0].startswith("specs/gateway.yaml:64:7: error: an environment's overrides cannot change "
                               "`compose_scan` (hint: the compose scan covers the whole repository")

