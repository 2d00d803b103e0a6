"""Environment overlays: any field, named list items by name, errors at the overlay's own line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler.cli import main
from compiler.write import read_tree

PROD_OVERRIDES = "    overrides:\n      gateway:\n        rate_limit:\n          requests_per_minute: 1200\n"


def set_prod_overrides(project: Path, overrides: str) -> None:
    gateway = project / "specs" / "gateway.yaml"
    text = gateway.read_text()
    assert PROD_OVERRIDES in text
    gateway.write_text(text.replace(PROD_OVERRIDES, overrides))


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args])
    return result.exit_code, result.output


def test_a_model_is_overlaid_by_name_without_restating_the_list(project: Path, tmp_path: Path) -> None:
    set_prod_overrides(project, "    overrides:\n      models:\n        chat-default:\n"
                                "          timeout_s: 15\n          litellm_params: {api_base: http://gpu-prod:11434}\n")
    code, output = run(project, "compile", "--out", str(tmp_path / "out"))
    assert code == 0, output
    files = read_tree(tmp_path / "out")
    yaml = YAML(typ="safe")
    prod = yaml.load(files["prod/litellm/config.yaml"])["model_list"]
    dev = yaml.load(files["dev/litellm/config.yaml"])["model_list"]
    staging = yaml.load(files["staging/litellm/config.yaml"])["model_list"]
    assert [m["model_name"] for m in prod] == [m["model_name"] for m in staging]
    assert prod[0]["litellm_params"]["api_base"] == "http://gpu-prod:11434"
    assert prod[0]["litellm_params"]["timeout"] == 15.0
    assert prod[0]["litellm_params"]["model"] == dev[0]["litellm_params"]["model"]
    assert dev[0]["litellm_params"]["api_base"] == "http://gpu-fast.internal:11434"


def test_a_mistake_inside_an_overlay_points_at_the_overlay(project: Path) -> None:
    set_prod_overrides(project, "    overrides:\n      models:\n        chat-default:\n          timeout_s: -1\n")
    code, output = run(project, "validate")
    assert code == 1
    first = output.splitlines()[0]
    assert first.startswith("specs/gateway.yaml:94:22: error: models[0].timeout_s: -1 is out of range"), output


def test_a_new_name_in_a_list_overlay_must_be_a_whole_item(project: Path) -> None:
    set_prod_overrides(project, "    overrides:\n      models:\n        chat-extra:\n          timeout_s: 5\n")
    code, output = run(project, "validate")
    assert code == 1
    assert 'specs/gateway.yaml:94:11: error: missing required key "backend" in models[13]' in output


def test_an_overlay_cannot_turn_the_gateway_off_in_production(project: Path) -> None:
    set_prod_overrides(project, "    overrides:\n      routing:\n        fail_mode: open\n")
    gateway = project / "specs" / "gateway.yaml"
    prod = "  prod:\n    sea_env: production\n    enable_policy_gateway: true\n"
    gateway.write_text(gateway.read_text().replace(prod + "    fail_mode: closed\n", prod))
    code, output = run(project, "validate")
    assert code == 1
    assert 'environment "prod" has SEA_ENV=production but fail_mode is "open"' in output
    assert "specs/gateway.yaml:92:20: error" in output
