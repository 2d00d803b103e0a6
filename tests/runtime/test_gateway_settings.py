"""Settings from gateway.json plus environment variables, and the fail-fast rules."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import gateway_json, write_generated

from runtime.settings import DEFAULT_LLM_PROVIDER_URL, ServerLimits, SettingsError, load_settings, startup_problems


def generated(tmp_path: Path, **overrides: Any) -> Path:
    return write_generated(tmp_path, gateway_json("http://litellm:8001/v1", **overrides))


def test_gateway_json_values_are_read(tmp_path: Path) -> None:
    s = load_settings("test", generated(tmp_path), {})
    assert s.llm_provider_url == "http://litellm:8001/v1"
    assert s.cb_failure_threshold == 5 and s.cb_reset_timeout_s == 30.0
    assert s.requests_per_minute == 600
    assert s.bundle_path == tmp_path / "test" / "opa" / "bundle.tar.gz"
    assert s.backends["gpu_fast"].concurrency == {"chat": 4, "embeddings": 2}
    assert s.backends["gpu_fast"].health_ready == "/readyz"
    assert s.backends["gpu_heavy"].health_ready is None
    assert s.models["image-default"].capability == "images"


def test_environment_variables_override_gateway_json(tmp_path: Path) -> None:
    s = load_settings(
        "test",
        generated(tmp_path),
        {
            "LLM_PROVIDER_URL": "http://127.0.0.1:9999/v1/",
            "POLICY_GATEWAY_CB_FAILURE_THRESHOLD": "2",
            "POLICY_GATEWAY_CB_RESET_TIMEOUT_S": "0.5",
            "POLICY_GATEWAY_FAIL_MODE": "open",
            "POLICY_GATEWAY_API_KEYS": " a , b ,,",
            "POLICY_GATEWAY_MASTER_KEY": "m",
            "SEA_ENV": "staging",
            "LLM_ENABLE_POLICY_GATEWAY": "false",
            "REDIS_URL": "redis://r:6379/0",
        },
    )
    assert s.llm_provider_url == "http://127.0.0.1:9999/v1"
    assert (s.cb_failure_threshold, s.cb_reset_timeout_s) == (2, 0.5)
    assert s.fail_mode == "open"
    assert s.client_keys == ("m", "a", "b")
    assert s.sea_env == "staging" and s.enable_policy_gateway is False
    assert s.redis_url == "redis://r:6379/0"


def test_the_provider_url_defaults_to_the_registry_address(tmp_path: Path) -> None:
    data = gateway_json("x")
    del data["llm_provider_url"]
    write_generated(tmp_path, data)
    assert load_settings("test", tmp_path, {}).llm_provider_url == DEFAULT_LLM_PROVIDER_URL
    assert DEFAULT_LLM_PROVIDER_URL == "http://llm-provider:8001/v1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"POLICY_GATEWAY_FAIL_MODE": "sometimes"}, "must be closed or open"),
        ({"POLICY_GATEWAY_CB_FAILURE_THRESHOLD": "zero"}, "is not a int"),
        ({"POLICY_GATEWAY_CB_FAILURE_THRESHOLD": "0"}, "must be at least 1"),
        ({"LLM_ENABLE_POLICY_GATEWAY": "maybe"}, "is not a boolean"),
        ({"POLICY_GATEWAY_HEADER_TIMEOUT_S": "0"}, "must be at least 0.01"),
        ({"POLICY_GATEWAY_MAX_HEADER_BYTES": "100"}, "must be at least 1024"),
        ({"POLICY_GATEWAY_MAX_CONNECTIONS": "lots"}, "is not a int"),
        ({"POLICY_GATEWAY_OPERATIONS_PORT": "70000"}, "is not a port"),
        ({"POLICY_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,ingress"}, "'ingress' is not an address or CIDR"),
        ({"POLICY_GATEWAY_REDIS_MAX_CONNECTIONS": "0"}, "must be at least 1"),
        ({"POLICY_GATEWAY_DECISION_THREADS": "0"}, "must be at least 1"),
        ({"POLICY_GATEWAY_DECISION_THREADS": "two"}, "is not a int"),
    ],
)
def test_malformed_variables_are_one_line_errors(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        load_settings("test", generated(tmp_path), environ)
    assert "\n" not in str(info.value)


def test_missing_or_broken_gateway_json(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings("nope", tmp_path, {})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "gateway.json").write_text("{")
    with pytest.raises(SettingsError, match="unreadable"):
        load_settings("bad", tmp_path, {})
    (tmp_path / "bad" / "gateway.json").write_text(json.dumps({"backends": {"x": {}}}))
    with pytest.raises(SettingsError, match="malformed"):
        load_settings("bad", tmp_path, {})


def test_production_fail_fast_rules(tmp_path: Path) -> None:
    root = generated(tmp_path)
    keys = {"POLICY_GATEWAY_API_KEYS": "k"}
    prod = {**keys, "SEA_ENV": "production"}
    assert startup_problems(load_settings("test", root, keys)) == []
    problems = startup_problems(load_settings("test", root, {**prod, "LLM_ENABLE_POLICY_GATEWAY": "false"}))
    assert problems == [
        "SEA_ENV=production requires LLM_ENABLE_POLICY_GATEWAY=true: "
        "production traffic must not bypass the policy gateway"
    ]
    problems = startup_problems(
        load_settings("test", root, {**prod, "LLM_ENABLE_POLICY_GATEWAY": "true", "POLICY_GATEWAY_FAIL_MODE": "open"})
    )
    assert problems == ["POLICY_GATEWAY_FAIL_MODE=open is not allowed with SEA_ENV=production"]
    (root / "test" / "opa" / "bundle.tar.gz").unlink()
    assert any("bundle" in p and "missing" in p for p in startup_problems(load_settings("test", root, keys)))
    assert any("no client API keys" in p for p in startup_problems(load_settings("test", root, {})))


def test_server_limits_come_from_gateway_json_and_each_has_a_variable(tmp_path: Path) -> None:
    server = {
        "header_timeout_s": 5,
        "body_timeout_s": 20,
        "keep_alive_timeout_s": 75,
        "max_header_bytes": 8192,
        "max_connections": 500,
        "auth_failures_per_minute": 10,
        "trusted_proxies": ["10.0.0.0/8"],
    }
    root = generated(tmp_path, server=server, operations_port=8081)
    s = load_settings("test", root, {})
    assert s.operations_port == 8081
    assert s.server == ServerLimits(5.0, 20.0, 75.0, 8192, 500, 10, ("10.0.0.0/8",))
    assert s.redis_max_connections == 50
    s = load_settings(
        "test",
        root,
        {
            "POLICY_GATEWAY_OPERATIONS_PORT": "9100",
            "POLICY_GATEWAY_HEADER_TIMEOUT_S": "0.5",
            "POLICY_GATEWAY_BODY_TIMEOUT_S": "0.25",
            "POLICY_GATEWAY_KEEP_ALIVE_TIMEOUT_S": "1",
            "POLICY_GATEWAY_MAX_HEADER_BYTES": "2048",
            "POLICY_GATEWAY_MAX_CONNECTIONS": "3",
            "POLICY_GATEWAY_AUTH_FAILURES_PER_MINUTE": "2",
            "POLICY_GATEWAY_TRUSTED_PROXIES": " 127.0.0.1 , ::1 ",
            "POLICY_GATEWAY_REDIS_MAX_CONNECTIONS": "4",
        },
    )
    assert s.operations_port == 9100
    assert s.server == ServerLimits(0.5, 0.25, 1.0, 2048, 3, 2, ("127.0.0.1", "::1"))
    assert s.redis_max_connections == 4


def test_without_a_server_section_the_production_defaults_apply(tmp_path: Path) -> None:
    s = load_settings("test", generated(tmp_path), {})
    assert s.operations_port is None  # the operations endpoints are then served nowhere
    assert s.server == ServerLimits(
        header_timeout_s=10.0,
        body_timeout_s=30.0,
        keep_alive_timeout_s=65.0,
        max_header_bytes=16_384,
        max_connections=1_000,
        auth_failures_per_minute=20,
        trusted_proxies=(),
    )


def test_client_keys_of_the_specs_are_read_from_their_variables_and_named(tmp_path: Path) -> None:
    from runtime.gateway.auth import Authenticator

    client_keys = {"support-bot": {"key_env": "KEY_SUPPORT", "team": "support"}, "alpha": {"key_env": "KEY_ALPHA"}}
    root = generated(tmp_path, client_keys=client_keys)
    s = load_settings("test", root, {"KEY_SUPPORT": "sk-support", "POLICY_GATEWAY_API_KEYS": "sk-plain"})
    assert s.named_keys == {"support-bot": "sk-support"}
    assert s.missing_key_envs == ("KEY_ALPHA",)
    assert startup_problems(s) == []  # outside production the key is only unusable
    auth = Authenticator(s.client_keys, s.named_keys)
    assert auth.client_name(auth.authenticate({"authorization": "Bearer sk-support"})) == "support-bot"
    assert auth.client_name(auth.authenticate({"authorization": "Bearer sk-plain"})) is None
    prod = load_settings("test", root, {"KEY_SUPPORT": "sk-support", "SEA_ENV": "production"})
    assert startup_problems(prod) == ["client keys of the specs have no value: set KEY_ALPHA"]


def test_the_admission_lease_has_a_variable_and_a_floor(tmp_path: Path) -> None:
    root = generated(tmp_path)
    assert load_settings("test", root, {}).admission_lease_s == 30.0
    assert load_settings("test", root, {"POLICY_GATEWAY_ADMISSION_LEASE_S": "2.5"}).admission_lease_s == 2.5
    with pytest.raises(SettingsError, match=re.escape("POLICY_GATEWAY_ADMISSION_LEASE_S='0.1' must be at least 0.3")):
        load_settings("test", root, {"POLICY_GATEWAY_ADMISSION_LEASE_S": "0.1"})


@pytest.mark.parametrize(
    ("environ", "threads"),
    [
        ({}, os.cpu_count() or 2),
        ({"GOMAXPROCS": "1"}, 1),
        ({"GOMAXPROCS": "3"}, 3),
        # Go ignores a GOMAXPROCS that is not a positive number, and so does the default
        ({"GOMAXPROCS": "0"}, os.cpu_count() or 2),
        ({"GOMAXPROCS": "all"}, os.cpu_count() or 2),
        ({"GOMAXPROCS": "1", "POLICY_GATEWAY_DECISION_THREADS": "4"}, 4),
        ({"POLICY_GATEWAY_DECISION_THREADS": "1"}, 1),
    ],
)
def test_the_decision_threads_follow_gomaxprocs_unless_set(
    tmp_path: Path, environ: dict[str, str], threads: int
) -> None:
    assert load_settings("test", generated(tmp_path), environ).decision_threads == threads


def test_the_policy_engine_is_auto_unless_policy_engine_names_one(tmp_path: Path) -> None:
    root = generated(tmp_path)
    assert load_settings("test", root, {}).policy_engine == "auto"
    assert load_settings("test", root, {"POLICY_ENGINE": "wasm"}).policy_engine == "wasm"
    assert load_settings("test", root, {"POLICY_ENGINE": "rego"}).policy_engine == "rego"
    with pytest.raises(SettingsError, match="POLICY_ENGINE='opa' must be auto, rego or wasm"):
        load_settings("test", root, {"POLICY_ENGINE": "opa"})


def test_redis_sentinel_settings_are_read(tmp_path: Path) -> None:
    s = load_settings("test", generated(tmp_path), {
        "REDIS_SENTINELS": "sentinel-0.redis:26379, 10.0.0.7:26380,[::1]:26381",
        "REDIS_SENTINEL_MASTER": "gateway",
        "REDIS_PASSWORD": "pw",
    })
    assert s.redis_sentinels == (("sentinel-0.redis", 26379), ("10.0.0.7", 26380), ("::1", 26381))
    assert (s.redis_sentinel_master, s.redis_password, s.redis_url) == ("gateway", "pw", None)
    assert s.uses_redis


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"REDIS_SENTINELS": "s:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://r:6379/0"}, "not both"),
        ({"REDIS_SENTINELS": "s:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "s", "REDIS_SENTINEL_MASTER": "m"}, "'s' is not host:port"),
        ({"REDIS_SENTINELS": "s:99999", "REDIS_SENTINEL_MASTER": "m"}, "not a port"),
    ],
)
def test_malformed_redis_sentinel_settings_are_refused(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings("test", generated(tmp_path), environ)
