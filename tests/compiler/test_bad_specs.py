"""One row per mistake: the message says what is wrong, and it points at the right line:col."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main

BAD = Path(__file__).resolve().parents[1] / "specs" / "bad"
WARN = BAD.parent / "warn"

# file stem -> (line, col, words the first error must contain)
CASES: dict[str, tuple[int, int, str]] = {
    "port_conflict": (10, 11, 'port 8080 is already taken by service "policy-gateway" (specs/spec.yaml:5:11)'),
    "port_out_of_range": (10, 11, "70000 is out of range"),
    "unknown_key_typo": (6, 5, 'unknown key "depend_on" in services.policy-gateway (hint: did you mean "depends_on"?)'),
    "unknown_backend_reference": (23, 14, 'unknown backend "gpu_fats" (hint: did you mean "gpu_fast"?)'),
    "depends_on_unknown_service": (6, 32, 'depends on unknown service "opa"'),
    "prod_gateway_disabled": (16, 54, "SEA_ENV=production but enable_policy_gateway is false"),
    "prod_fail_open": (16, 71, 'SEA_ENV=production but fail_mode is "open"'),
    "duplicate_model_name": (25, 11, 'model "chat-default" is defined twice (first at specs/spec.yaml:22:11)'),
    "duplicate_yaml_key": (7, 3, 'duplicate key "policy-gateway"'),
    "yaml_syntax_error": (7, 15, "YAML syntax: expected ',' or ']'"),
    "literal_secret": (24, 52, "models[0].litellm_params.api_key holds an API key (sk-...) in plain text (hint: write "
                       "os.environ/CHAT_DEFAULT_API_KEY"),
    "bad_semver": (26, 21, "policies.prompt.version: '1.0' has the wrong format (hint: use a semantic version"),
    "mode_for_unknown_env": (27, 64, 'sets a mode for unknown environment "qa"'),
    "missing_mode_for_env": (27, 34, 'policy "output" has no mode for environment "prod"'),
    "capability_unsupported": (24, 17, 'backend "gpu_fast" does not support images (supports: chat)'),
    "container_port_twice": (12, 9, 'container port 8001 is used twice in service "llm-provider"'),
    "overlay_port_conflict": (13, 21, 'listens on 8080 in environment "prod"'),
    "routing_port_mismatch": (13, 21, 'uses port 8002 but service "llm-provider" listens on 8001'),
    "invalid_mode_value": (26, 55, "policies.prompt.mode.prod: 'enforced' is not allowed"),
    "dependency_cycle": (6, 17, "cycle: policy-gateway -> llm-provider -> policy-gateway"),
    "fallback_unknown_model": (25, 17, 'falls back to unknown model "gpt-5-mini"'),
    "concurrency_unsupported_capability": (21, 28, 'concurrency limit for "images" but does not support it'),
    "wrong_type_port": (10, 11, "services.llm-provider.port: Input should be a valid integer"),
    "missing_policies_section": (1, 1, 'no spec file defines the required section "policies"'),
    "empty_spec_file": (1, 1, "spec file is empty"),
    "spec_file_is_a_list": (2, 1, "a spec file must be a mapping of sections, not a list"),
    "unclosed_quote": (9, 12, "YAML syntax: unclosed quoted string: it runs to the end of the file"),
    "unsupported_yaml_tag": (24, 29, "YAML tag !!python/name:os.system is not supported"),
    "recursive_alias": (6, 38, "alias *deps refers to a node that contains it (a cycle)"),
    "trusted_proxy_not_an_address": (13, 22, "'ingress-nginx' is not an IP address or CIDR"),
    "endpoint_without_a_model": (18, 21, 'endpoint "audio_speech" needs a model that does speech, and there is none '
                                 '(hint: add a model with `capability: speech` on backend "openai"'),
    "endpoint_unknown_name": (18, 21, "gateway.endpoints[1]: 'embedings' is not allowed "
                              '(hint: did you mean "embeddings"?)'),
    "endpoint_mcp_without_servers": (18, 21, 'endpoint "mcp" is listed but no MCP server is declared'),
    "endpoint_a2a_without_agents": (18, 21, 'endpoint "a2a" is listed but no agent is declared'),
    "endpoint_listed_twice": (18, 32, 'endpoint "chat" is listed twice in gateway.endpoints'),
    "endpoints_empty": (18, 14, "gateway.endpoints: must not be empty"),
    "mcp_server_name_with_dash": (30, 3, "mcp_servers: the name 'docs-search' has the wrong format "
                                  "(hint: use lowercase letters, digits and '_'"),
    "mcp_server_unknown_transport": (30, 59, "mcp_servers.docs_search.transport: 'stdio' is not allowed"),
    "files_backend_unknown": (30, 18, 'names unknown backend "opneai" (hint: did you mean "openai"?)'),
    "files_backend_cannot_batch": (29, 18, 'litellm.files_backend "gpu_heavy" cannot run batches (supports: images)'),
    "capability_audio_is_split": (31, 17, "models[1].capability: 'audio' is not allowed (hint: write \"speech\" "
                                  '(text to speech) or "transcription" (speech to text)'),
    "fallback_to_other_capability": (29, 17, 'model "chat-default" (chat) falls back to "tts", which does speech'),
    "max_image_bytes_zero": (21, 64, "payload_policy.max_image_bytes: 0 is out of range"),
    # LiteLLM's surface (compiler/litellm_surface/): a typo in each section, a wrong type, a name LiteLLM lacks
    "litellm_settings_typo": (29, 33, 'unknown key "request_tmeout" in litellm.settings (hint: did you mean '
                              '"request_timeout"?)'),
    "general_settings_typo": (29, 22, 'unknown key "store_model_in_dbb" in litellm.general_settings (hint: did you '
                              'mean "store_model_in_db"?)'),
    "router_settings_typo": (29, 3, 'unknown key "routing_stratgy" in router (hint: did you mean "routing_strategy"?)'),
    "litellm_params_typo": (24, 43, 'unknown key "modle" in models[0].litellm_params (hint: did you mean "model"?)'),
    "cache_params_typo": (31, 33, 'unknown key "hots" in litellm.settings.cache_params (hint: did you mean "host"?)'),
    "drop_params_not_a_bool": (29, 27, "litellm.settings.drop_params: Input should be a valid boolean, unable to "
                               "interpret input (hint: write true or false)"),
    "routing_strategy_unknown": (29, 21, "router.routing_strategy: unknown routing strategy 'least-bussy' (hint: did "
                                 'you mean "least-busy"?)'),
    "callback_unknown": (29, 33, "litellm.settings.success_callback[0]: unknown callback 'promethus' (hint: did you "
                         'mean "prometheus"?'),
    "cache_call_type_unknown": (31, 69, "supported_call_types[0]: LiteLLM does not cache call type 'acompletions' "
                                '(hint: did you mean "acompletion"?)'),
    # a literal secret, in each section
    "secret_in_general_settings": (29, 36, "litellm.general_settings.database_url holds a connection string with a "
                                   "password in plain text (hint: write os.environ/DATABASE_URL"),
    "secret_in_cache_params": (31, 56, "litellm.settings.cache_params.password holds a secret in plain text (hint: "
                               "write os.environ/REDIS_PASSWORD"),
    "secret_in_router": (30, 19, "router.redis_password holds a secret in plain text (hint: leave it out and set "
                         "REDIS_PASSWORD where the proxy runs"),
    "secret_in_service_environment": (10, 39, "services.llm-provider.environment.LITELLM_MASTER_KEY holds an API key "
                                      "(sk-...) in plain text (hint: write os.environ/LITELLM_MASTER_KEY"),
    "secret_in_overrides": (19, 50, "environments.dev.overrides.litellm.general_settings.database_url holds a "
                            "connection string with a password in plain text (hint: write os.environ/DATABASE_URL"),
    "master_key_in_general_settings": (29, 22, "litellm.general_settings.master_key would override "
                                       "litellm.master_key_env (hint: remove it and name the variable in "
                                       "litellm.master_key_env)"),
    "router_redis_env_reference": (30, 14, "router.redis_url: LiteLLM's Router takes this as written: it resolves "
                                   "os.environ/ only in litellm_params and cache_params (hint: leave it out and set "
                                   "REDIS_URL in the proxy's environment"),
    # provider parameters
    "provider_param_on_wrong_provider": (24, 91, 'bedrock/ models do not take "api_version" '
                                         "(models[0].litellm_params.api_version) (hint: api_version is a parameter of "
                                         "azure/; bedrock/ takes api_base, api_key, aws_access_key_id"),
    "vertex_param_on_openai": (24, 43, 'openai/ models do not take "vertex_project" (models[0].litellm_params.'
                               "vertex_project) (hint: vertex_project is a parameter of vertex_ai/"),
    # llmrouter strategies (seed 002 requirements 2-3)
    "llmrouter_paths_missing": (30, 39, "router.routing_strategy_args.model_path: 'models/knn.pkl' is not a file in "
                                "the repository (hint: give a path relative to the repository root, or set "
                                "`mounted: true`"),
    "llmrouter_without_args": (29, 21, "router.routing_strategy: routing strategy 'llmrouter-knn' needs "
                               "routing_strategy_args.model_path (hint: add routing_strategy_args"),
    "llmrouter_mounted_relative_path": (30, 39, "router.routing_strategy_args.model_path 'models/mlp.pt' is mounted "
                                        "but not absolute (hint: a mounted path is where the file is inside the "
                                        "proxy's container"),
    "context_window_fallback_unknown_model": (29, 45, 'model "chat-default" falls back on a long context to unknown '
                                              'model "chat-long" (hint: known models: chat-default)'),
    # moat mode (seed 002 requirement 16)
    "air_gapped_cloud_callback": (29, 45, 'callback "datadog" sends data to a vendor cloud, and environment "dev" is '
                                  "air-gapped (specs/spec.yaml:15:73) (hint: use a self-hosted one"),
    "air_gapped_external_host": (23, 14, 'model "chat-default" runs on backend "gpu_fast" (api.openai.com), outside '
                                 'the network, and environment "dev" is air-gapped (specs/spec.yaml:15:73) (hint: '
                                 "serve it from a backend inside the network"),
    "prod_exposes_litellm": (11, 24, 'service "llm-provider" (llm-provider) would be reachable from outside on '
                             '0.0.0.0:8001 in production environment "prod", around the policy gateway'),
    "prod_exposes_opa": (15, 39, 'service "opa" (policy-engine) would be reachable from outside on 0.0.0.0:8181'),
    "prod_exposes_redis_in_overlay": (30, 36, 'service "redis" (cache) would be reachable from outside on '
                                      '0.0.0.0:6379 in production environment "prod"'),
    "local_fallback_to_external": (29, 17, 'model "chat-default" falls back to "gpt-4o-mini", whose backend is '
                                   'external: prompts for "chat-default" (private) would leave the site in '
                                   'environment "prod" (hint: fall back to a local or private model, or set '
                                   "allow_external_fallback: true on environment prod"),
    "air_gapped_fallback_to_external": (29, 17, 'falls back to "gpt-4o-mini", whose backend is external, in '
                                        'air-gapped environment "dev"'),
    "ingress_timeout_shorter_than_model": (36, 55, "ingress annotation nginx.ingress.kubernetes.io/proxy-read-timeout "
                                           'is 60 s, shorter than model "image-default"\'s timeout of 300 s '
                                           "(specs/spec.yaml:29:16)"),
    "fallbacks_in_litellm_settings": (28, 5, "litellm.settings.default_fallbacks sends requests to other models "
                                      "where validate cannot check where their prompts go"),
    "ingress_body_size_below_gateway_limit": (36, 52, "proxy-body-size is 512k (524288 bytes), below "
                                              "gateway.max_body_bytes (1048576)"),
    "key_literal_value": (31, 16, 'key "alpha" holds a literal value, not a reference '
                          "(hint: write `key: os.environ/GATEWAY_KEY_ALPHA`"),
    "key_unknown_team": (31, 44, 'key "alpha" belongs to unknown team "reserch" (hint: did you mean "research"?)'),
    "key_unknown_model": (29, 47, 'key "alpha" names unknown model "chat-defualt" '
                          '(hint: did you mean "chat-default"?)'),
    "key_model_outside_team": (34, 77, 'key "alpha" may call "chat-large", which its team "research" may not'),
    "key_budget_not_positive": (29, 50, "keys.alpha.max_budget: 0 is out of range (must be > 0.0)"),
    "key_budget_duration_unparsable": (29, 48, "team \"research\": budget_duration '30days' is not a duration "
                                       "(hint: write a number and a unit: 30s, 10m, 24h, 30d, 1w or 1mo)"),
    "key_shared_variable": (30, 15, 'key "beta" reads the same variable KEY_ALPHA as key "alpha"'),
    "key_unknown_field": (29, 38, 'unknown key "max_buget" in keys.alpha (hint: did you mean "max_budget"?)'),
    "redis_url_and_sentinel": (29, 3, "redis: give either `url` or `sentinel`, not both"),
    "redis_sentinel_without_port": (30, 17, "redis.sentinel.sentinels[0]: 'sentinel-0' has the wrong format "
                                    "(hint: write host:port"),
    "redis_url_with_password": (29, 8, "(hint: use redis://host:port/db; a password goes in redis.password_env"),
    "alert_for_not_a_duration": (30, 25, "monitoring.alerts.breaker_open.for: '5 minutes' has the wrong format "
                                 "(hint: use a Prometheus duration"),
    "alert_unknown_name": (30, 5, 'unknown key "breaker_opened" in monitoring.alerts '
                           '(hint: did you mean "breaker_open"?)'),
    "observability_header_literal": (22, 35, "environments.prod.observability.headers.x-honeycomb-team holds a literal "
                                     "value (hint: collector tokens are secrets: write "
                                     "os.environ/OTLP_X_HONEYCOMB_TEAM"),
    "observability_endpoint_with_path": (20, 36, "environments.prod.observability.otlp_endpoint has a path "
                                         "(/v1/traces) (hint: give the base URL (http://otel-collector:4318)"),
    "observability_endpoint_not_a_url": (20, 36, "otlp_endpoint: 'otel-collector:4317' is not an http(s) URL "
                                         "(hint: write the collector's base URL, e.g. http://otel-collector:4317)"),
    "observability_endpoint_credentials": (20, 36, "otlp_endpoint has credentials in its URL "
                                           "(hint: put the token in a header"),
    "observability_unknown_protocol": (20, 76, "observability.protocol: 'http/protobf' is not allowed "
                                       '(hint: did you mean "http/protobuf"?)'),
    "observability_unknown_signal": (20, 84, "observability.signals[1]: 'log' is not allowed "
                                     '(hint: did you mean "logs"?)'),
    "observability_sampling_ratio_above_one": (20, 82, "observability.sampling_ratio: 10 is out of range"),
}

# file stem in tests/specs/warn -> (line, col, words of the warning); the specs stay valid
WARNINGS: dict[str, tuple[int, int, str]] = {
    "in_proxy_leaves_endpoints_unchecked": (
        15, 73, 'environment "dev" checks its traffic only inside LiteLLM (guardrails: in_proxy, gateway disabled), '
        "which cannot check all these endpoints carry: audio_speech (the audio it answers), files (file content "
        "downloads, batch outputs among them), batches (batch retrieve) (hint: route these through the gateway"),
    "in_proxy_overlay_lists_unchecked_endpoints": (
        20, 28, "rerank (the documents it sends back), files (file content downloads, batch outputs among them) "
        "(hint: route these through the gateway"),
    "llmrouter_strategy_needs_the_integration": (
        29, 21, "router.routing_strategy 'llmrouter-knn': LiteLLM 1.106.2 refuses it (Invalid routing_strategy), so "
        "this config loads only in a proxy with the LLMRouter integration (hint: run the proxy with the LLMRouter "
        "integration"),
    "prod_publishes_redis_on_loopback": (
        31, 36, 'service "redis" (cache) is published on the host\'s loopback in production environment "prod"'),
    "observability_missing_in_production": (
        16, 3, 'production environment "prod" exports no telemetry to a collector (hint: add `observability: '
        "{otlp_endpoint: http://otel-collector:4318}`"),
    "observability_grpc_on_http_port": (
        20, 36, "environments.prod.observability.otlp_endpoint uses port 4318, OTLP http/protobuf's port, with "
        "protocol grpc (hint: use port 4317 or `protocol: http/protobuf`)"),
    "budget_duration_without_budget": (29, 55, 'key "alpha" resets a budget it does not have '
                                       "(hint: add max_budget, or remove budget_duration)"),
    "admission_counted_per_replica": (22, 25, 'backend "gpu_heavy" admits 2 chat request(s) at a time, but '
                                      'environment "staging" has no Redis to share the count: each of its up to '
                                      "10 gateway replicas counts alone (up to 20 at once)"),
}


def run_validate(spec_file: Path, tmp_path: Path) -> tuple[int, str]:
    (tmp_path / "specs").mkdir()
    shutil.copy(spec_file, tmp_path / "specs" / "spec.yaml")
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "validate"])
    return result.exit_code, result.output


def test_every_bad_spec_file_has_a_row() -> None:
    assert {p.stem for p in BAD.glob("*.yaml")} == set(CASES)
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_spec_is_reported_at_its_location(name: str, tmp_path: Path) -> None:
    line, col, words = CASES[name]
    code, output = run_validate(BAD / f"{name}.yaml", tmp_path)
    assert code == 1, output
    assert "Traceback" not in output
    first = output.splitlines()[0]
    assert first.startswith(f"specs/spec.yaml:{line}:{col}: error: "), output
    assert words in first, output
    assert "(hint: " in first


def test_every_warning_spec_file_has_a_row() -> None:
    assert {p.stem for p in WARN.glob("*.yaml")} == set(WARNINGS)


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warning_is_reported_at_its_location_and_the_specs_stay_valid(name: str, tmp_path: Path) -> None:
    line, col, words = WARNINGS[name]
    code, output = run_validate(WARN / f"{name}.yaml", tmp_path)
    assert code == 0, output
    first, last = output.splitlines()[0], output.splitlines()[-1]
    assert first.startswith(f"specs/spec.yaml:{line}:{col}: warning: "), output
    assert words in first, output
    assert last == "specs OK: 2 environments"


def test_all_problems_are_reported_in_one_run(tmp_path: Path) -> None:
    """A schema error (a typo'd key) does not hide the port clash and the missing backend."""
    text = (BAD / "port_conflict.yaml").read_text().replace("backend: gpu_fast", "backend: nope")
    text = text.replace("litellm_params: {model: openai/llama}", "litellm_params: {model: openai/llama, modle: x}")
    (tmp_path / "bad.yaml").write_text(text)
    code, output = run_validate(tmp_path / "bad.yaml", tmp_path)
    assert code == 1
    lines = output.splitlines()
    assert any('unknown key "modle" in models[0].litellm_params (hint: did you mean "model"?)' in x for x in lines)
    assert any("port 8080 is already taken" in line for line in lines)
    assert any('unknown backend "nope"' in line for line in lines)
    # the fourth: the clash moved llm-provider to 8080, which routing.llm_provider_url no longer matches
    assert any("routing.llm_provider_url uses port 8001" in line for line in lines)
    assert lines[-1] == "4 errors found"


def test_a_wrong_required_value_still_stops_before_the_rules(tmp_path: Path) -> None:
    """Leaving out a required value would check a spec nobody wrote: then only the schema errors."""
    text = (BAD / "port_conflict.yaml").read_text().replace("backend: gpu_fast", "backend: [gpu_fast]")
    (tmp_path / "bad.yaml").write_text(text)
    code, output = run_validate(tmp_path / "bad.yaml", tmp_path)
    assert code == 1
    assert "models[0].backend: Input should be a valid string" in output
    assert "port 8080 is already taken" not in output


def test_good_minimal_spec_is_valid(tmp_path: Path) -> None:
    code, output = run_validate(BAD.parent / "good" / "minimal.yaml", tmp_path)
    assert code == 0, output
    assert "specs OK: 2 environments" in output


def test_an_llmrouter_strategy_is_compiled_with_its_args(tmp_path: Path) -> None:
    """Seed 002 requirements 2-3: the strategy and its model, data and reload settings reach LiteLLM."""
    from ruamel.yaml import YAML

    (tmp_path / "specs").mkdir()
    shutil.copy(WARN / "llmrouter_strategy_needs_the_integration.yaml", tmp_path / "specs" / "spec.yaml")
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "compile", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    config = YAML(typ="safe").load((tmp_path / "out" / "prod" / "litellm" / "config.yaml").read_text())
    assert config["router_settings"]["routing_strategy"] == "llmrouter-knn"
    assert config["router_settings"]["routing_strategy_args"] == {
        "model_path": "/models/knn_router.pkl", "llm_data_path": "/models/llm_candidates.json",
        "hot_reload": True, "reload_interval": 300}
