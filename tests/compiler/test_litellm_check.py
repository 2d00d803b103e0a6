"""`gatewayctl litellm-check`: LiteLLM's own example configs (a corpus no one here wrote), every
config the compiler emits, and mutated copies of them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler.cli import main
from compiler.litellm_surface.check import check_config

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.find_spec("litellm")  # its files, without importing it
assert _SPEC is not None and _SPEC.origin is not None
LITELLM = Path(_SPEC.origin).parent
_PROXY_CONFIG = re.compile(r"^(model_list|litellm_settings|router_settings|general_settings):", re.M)

# Every proxy config shipped inside LiteLLM 1.106.2, with its verdict: [] accepted, else the
# (line, words) of each error. Why each rejection is right:
_FAKE_KEY = "litellm_params.api_key holds a secret in plain text"  # `api_key: fake-key` in a test fixture
CORPUS: dict[str, list[tuple[int, str]]] = {
    "proxy/dev_config.yaml": [],
    "proxy/example_config_yaml/_health_check_test_config.yaml": [],
    "proxy/example_config_yaml/adaptive_router_example.yaml": [],
    "proxy/example_config_yaml/agentcore_websearch_config.yaml": [],
    "proxy/example_config_yaml/aliases_config.yaml": [],
    "proxy/example_config_yaml/azure_config.yaml": [],
    "proxy/example_config_yaml/bing_grounding_websearch_config.yaml": [],
    "proxy/example_config_yaml/code_interpreter_interception_config.yaml": [],
    "proxy/example_config_yaml/disable_schema_update.yaml": [(5, _FAKE_KEY), (10, _FAKE_KEY)],
    "proxy/example_config_yaml/enterprise_config.yaml": [(5, _FAKE_KEY)],
    # a deployment without litellm_params: the router cannot call it
    "proxy/example_config_yaml/langfuse_config.yaml": [(2, 'missing required key "litellm_params" in model_list[0]')],
    # `api_key: sk-uj6F` and `sk-Imn`: (shortened) keys in the file
    "proxy/example_config_yaml/load_balancer.yaml": [(9, _FAKE_KEY), (15, _FAKE_KEY)],
    "proxy/example_config_yaml/multi_instance_simple_config.yaml": [(5, _FAKE_KEY)],
    "proxy/example_config_yaml/oai_misc_config.yaml": [],
    "proxy/example_config_yaml/opentelemetry_config.yaml": [],
    "proxy/example_config_yaml/otel_test_config.yaml": [(5, _FAKE_KEY), (13, _FAKE_KEY), (26, _FAKE_KEY),
                                                        (32, _FAKE_KEY)],
    "proxy/example_config_yaml/pass_through_config.yaml": [(5, _FAKE_KEY)],
    # postgresql://user:password@localhost:5432/litellm
    "proxy/example_config_yaml/reject_clientside_metadata_tags_config.yaml": [
        (9, "general_settings.database_url holds a connection string with a password")],
    "proxy/example_config_yaml/simple_config.yaml": [],
    "proxy/example_config_yaml/spend_tracking_config.yaml": [(5, _FAKE_KEY)],
    "proxy/example_config_yaml/store_model_db_config.yaml": [(5, _FAKE_KEY)],
    "proxy/example_config_yaml/test_pipeline_config.yaml": [(5, _FAKE_KEY), (10, _FAKE_KEY)],
    "proxy/example_config_yaml/tool_permission_example.yaml": [],
    "proxy/example_config_yaml/websearch_interception_config.yaml": [],
    "proxy/guardrails/guardrail_hooks/generic_guardrail_api/example_config.yaml": [],
    "proxy/guardrails/guardrail_hooks/llm_shield_proxy/example_config.yaml": [],
    "proxy/model_config.yaml": [],
    "proxy/proxy_config.yaml": [],
    "proxy/wildcard_config.yaml": [],
}


def _proxy_configs() -> list[str]:
    return sorted(p.relative_to(LITELLM).as_posix() for p in LITELLM.rglob("*.yaml")
                  if _PROXY_CONFIG.search(p.read_text(encoding="utf-8", errors="replace")))


def test_the_corpus_is_every_proxy_config_litellm_ships() -> None:
    assert _proxy_configs() == sorted(CORPUS)


@pytest.mark.parametrize("rel", sorted(CORPUS))
def test_litellm_example_config_gets_its_verdict(rel: str) -> None:
    errors = [p for p in check_config(LITELLM / rel, rel) if p.severity == "error"]
    assert [(e.where.line) for e in errors] == [line for line, _ in CORPUS[rel]], "\n".join(map(str, errors))
    for error, (_, words) in zip(errors, CORPUS[rel], strict=True):
        assert words in str(error)
        assert error.hint


GENERATED = sorted((ROOT / "generated").glob("*/litellm/config.yaml"))


def test_every_generated_litellm_config_passes_litellm_check() -> None:
    assert len(GENERATED) == 3
    result = CliRunner().invoke(main, ["litellm-check", *map(str, GENERATED)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("LiteLLM config OK: 3 files")


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _first_model(config: dict, prefix: str) -> dict:  # type: ignore[type-arg]
    return next(m for m in config["model_list"] if m["litellm_params"]["model"].startswith(prefix))


# mutation -> the words of the error it must draw
MUTATIONS = {
    "router_settings typo": (lambda c: c["router_settings"].update(routing_stratgy="least-busy"),
                             'unknown key "routing_stratgy" in router_settings (hint: did you mean '
                             '"routing_strategy"?)'),
    "drop_params not a bool": (lambda c: c["litellm_settings"].update(drop_params="maybe"),
                               "litellm_settings.drop_params: Input should be a valid boolean"),
    "litellm_settings typo": (lambda c: c["litellm_settings"].update(request_tmeout=600),
                              'did you mean "request_timeout"?'),
    "literal master key": (lambda c: c["general_settings"].update(master_key="sk-live-1234567890"),
                           "general_settings.master_key holds an API key (sk-...) in plain text (hint: write "
                           "os.environ/LITELLM_MASTER_KEY"),
    "literal model key": (lambda c: _first_model(c, "openai/")["litellm_params"].update(api_key="hunter2"),
                          "litellm_params.api_key holds a secret in plain text"),
    "azure parameter on bedrock": (lambda c: _first_model(c, "bedrock/")["litellm_params"].update(api_version="1"),
                                   'bedrock/ models do not take "api_version"'),
    "unknown callback": (lambda c: c["litellm_settings"].update(success_callback=["promethus"]),
                         "unknown callback 'promethus' (hint: did you mean \"prometheus\"?"),
    "cache_params typo": (lambda c: c["litellm_settings"]["cache_params"].update(hots="redis"),
                          'unknown key "hots" in litellm_settings.cache_params (hint: did you mean "host"?)'),
    # a name LiteLLM reads that the models pass through untyped: still a "did you mean"
    "general_settings pass-through typo": (lambda c: c["general_settings"].update(disable_spend_log=True),
                                           'unknown key "disable_spend_log" in general_settings (hint: did you '
                                           'mean "disable_spend_logs"?)'),
    "model_list entry typo": (lambda c: c["model_list"][0].update(model_nmae="x"),
                              'unknown key "model_nmae" in model_list[0]'),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutated_generated_config_is_rejected(name: str, tmp_path: Path) -> None:
    mutate, words = MUTATIONS[name]
    config = _load(ROOT / "generated" / "prod" / "litellm" / "config.yaml")
    mutate(config)
    path = tmp_path / "config.yaml"
    YAML(typ="safe").dump(config, path)
    result = CliRunner().invoke(main, ["litellm-check", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert re.match(r"^\S+config\.yaml:\d+:\d+: error: ", first), first
    assert words in result.output, result.output


def test_litellm_check_usage_errors_exit_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["litellm-check"]).exit_code == 2
    assert CliRunner().invoke(main, ["litellm-check", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_a_broken_yaml_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x\n")
    result = CliRunner().invoke(main, ["litellm-check", str(path)])
    assert result.exit_code == 1
    assert ":3:" in result.output.splitlines()[0] and "YAML syntax" in result.output


def test_the_pre_commit_hook_runs_litellm_check_on_config_files() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "gatewayctl-litellm-check")
    assert hook["entry"] == "gatewayctl litellm-check"
    assert hook.get("pass_filenames", True) is True
    assert re.search(hook["files"], "deploy/litellm/config.yaml")
    assert re.search(hook["files"], "litellm_config.yaml")


def test_the_json_schema_accepts_the_generated_configs_and_refuses_typos() -> None:
    """schemas/litellm-config.schema.json says what litellm-check says, for editors."""
    import json

    import jsonschema

    schema = json.loads((ROOT / "schemas" / "litellm-config.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in GENERATED:
        config = _load(path)
        assert not list(validator.iter_errors(config)), path
    config["router_settings"]["routing_stratgy"] = "least-busy"
    assert [e.path[0] for e in validator.iter_errors(config)] == ["router_settings"]
    del config["router_settings"]["routing_stratgy"]
    _first_model(config, "bedrock/")["litellm_params"]["api_version"] = "1"
    assert [e.path[0] for e in validator.iter_errors(config)] == ["model_list"]


def test_bedrock_models_get_no_backend_url_or_key() -> None:
    """Bedrock authenticates by IAM and finds its endpoint from the region: the backend's base_url
    and api_key_env are not injected (they were, before the provider parameters were typed)."""
    for path in GENERATED:
        bedrock = _first_model(_load(path), "bedrock/")["litellm_params"]
        assert "api_base" not in bedrock and "api_key" not in bedrock, path
        assert bedrock["aws_region_name"] == "eu-west-1"
        assert bedrock["aws_role_name"] == "os.environ/BEDROCK_ROLE_ARN"
        openai = _first_model(_load(path), "openai/gpt-4o-mini")["litellm_params"]
        assert openai["api_base"] == "https://api.openai.com/v1"  # the others still get their backend's
        assert openai["api_key"] == "os.environ/OPENAI_API_KEY"
