"""What counts as a literal secret (compiler/litellm_surface/secrets.py), and what does not."""

from __future__ import annotations

import pytest

from compiler.litellm_surface.secrets import is_secret_key, secret_shape, suggest_env_name

SECRET_KEYS = ["api_key", "master_key", "database_url", "redis_password", "langfuse_secret", "client_secret",
               "aws_secret_access_key", "aws_session_token", "slack_webhook_url", "sentry_dsn", "password",
               "azure_ad_token", "LITELLM_MASTER_KEY", "vertex_credentials"]
NOT_SECRET_KEYS = ["max_tokens", "tokens_per_minute", "max_input_tokens", "token_budget", "api_key_env",
                   "public_key", "public_key_env", "key_id", "token_rate_limit_type", "user_api_key_cache_ttl",
                   "litellm_key_header_name", "redis_host", "aws_region_name", "model", "api_base"]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_key_named_like_a_secret_is_one(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_a_key_that_only_mentions_a_secret_word_is_not_one(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(("value", "what"), [
    ("sk-live-abcdef123456", "an API key (sk-...)"),
    ("sk-ant-api03-abcdef", "an API key (sk-...)"),
    ("AKIAIOSFODNN7EXAMPLE", "an API key"),
    ("ghp_abcdefghijkl", "an API key"),
    ("postgresql://admin:hunter2@db:5432/litellm", "a connection string with a password"),
    ("redis://:hunter2@redis:6379/0", "a connection string with a password"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB", "a private key"),
])
def test_a_value_shaped_like_a_secret_is_one(value: str, what: str) -> None:
    assert secret_shape(value) == what


@pytest.mark.parametrize("value", ["os.environ/OPENAI_API_KEY", "postgresql://db:5432/litellm",
                                   "redis://redis:6379/0", "openai/gpt-4o-mini", "sk", "https://api.openai.com/v1"])
def test_references_urls_without_passwords_and_model_names_are_not_secrets(value: str) -> None:
    assert secret_shape(value) is None


def test_the_suggested_variable_names_what_the_secret_unlocks() -> None:
    document = {"models": [{"name": "gpt-4o-mini", "litellm_params": {"api_key": "x"}}],
                "litellm": {"settings": {"cache_params": {"password": "x"}}, "general_settings": {"master_key": "x"}}}
    assert suggest_env_name(("models", 0, "litellm_params", "api_key"), document) == "GPT_4O_MINI_API_KEY"
    assert suggest_env_name(("litellm", "settings", "cache_params", "password"), document) == "REDIS_PASSWORD"
    assert suggest_env_name(("litellm", "general_settings", "master_key"), document) == "LITELLM_MASTER_KEY"
