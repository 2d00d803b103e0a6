"""The compiled LiteLLM configs on a real LiteLLM proxy (the pinned version's own loader): every
environment's config loads with its Redis cache on a real redis-server, and the example specs'
cache answers a repeated request without calling the provider again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from ruamel.yaml import YAML

from tests.integration.gateway_stack import (
    LITELLM_MASTER_KEY,
    FakeProviderProcess,
    LiteLLMProxy,
    RedisServer,
    litellm_test_config,
)

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}


def _emitted(generated: Path, env: str) -> dict[str, Any]:
    config: dict[str, Any] = YAML(typ="safe").load((generated / env / "litellm" / "config.yaml").read_text())
    return config


def _start(generated: Path, env: str, provider: FakeProviderProcess, cache: RedisServer, log: Path) -> LiteLLMProxy:
    """The emitted config as litellm_test_config leaves it (keys "fake", the fake provider), its
    cache_params' os.environ/ references set to the test's redis-server."""
    config = litellm_test_config(generated, env, provider.base_url, settings_as_emitted=True,
                                 name=f"surface-{env}.yaml")
    env_vars = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(cache.port), "REDIS_PASSWORD": "",
                "BEDROCK_ROLE_ARN": "arn:aws:iam::000000000000:role/never-assumed"}
    return LiteLLMProxy(config, log, env=env_vars).start()


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_generated_config_starts_a_real_litellm_proxy(
    env: str, compiled_project: Path, fake_provider: FakeProviderProcess,
    start_redis: Callable[[], RedisServer], tmp_path: Path,
) -> None:
    emitted = _emitted(compiled_project, env)
    assert emitted["litellm_settings"]["cache_params"]["type"] == "redis"
    proxy = _start(compiled_project, env, fake_provider, start_redis(), tmp_path / "litellm.log")
    try:
        served = httpx.get(f"{proxy.url}/v1/models", headers=AUTH, timeout=10).json()
        assert {m["id"] for m in served["data"]} == {m["model_name"] for m in emitted["model_list"]}
        assert "claude-bedrock" in {m["id"] for m in served["data"]}
        log = proxy.log.read_text()
        assert "is not a valid argument for Router.__init__()" not in log  # no router_settings key ignored
    finally:
        proxy.stop()


def test_a_repeated_request_is_answered_from_the_redis_cache(
    compiled_project: Path, fake_provider: FakeProviderProcess,
    start_redis: Callable[[], RedisServer], tmp_path: Path,
) -> None:
    cache = start_redis()
    proxy = _start(compiled_project, "staging", fake_provider, cache, tmp_path / "litellm.log")
    try:
        fake_provider.reset()
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "the same question twice"}]}
        first = httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
        second = httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
        assert first.status_code == second.status_code == 200, second.text
        assert second.json()["choices"] == first.json()["choices"]
        calls = [r for r in fake_provider.requests() if r["path"].endswith("/chat/completions")]
        assert len(calls) == 1, calls  # the second answer came from Redis
        # LiteLLM names the cache entry it answered from; it is in Redis, under the specs' namespace
        cache_key = second.headers.get("x-litellm-cache-key")
        assert cache_key and cache_key.startswith("litellm.cache:"), cache_key
        assert redis.Redis.from_url(cache.url).exists(cache_key) == 1
        other = {**body, "messages": [{"role": "user", "content": "another question"}]}
        assert httpx.post(f"{proxy.url}/v1/chat/completions", json=other, headers=AUTH, timeout=30).status_code == 200
        assert len([r for r in fake_provider.requests() if r["path"].endswith("/chat/completions")]) == 2
        metrics = httpx.get(f"{proxy.url}/metrics/", headers=AUTH, timeout=10)  # the prometheus callback's endpoint
        assert metrics.status_code == 200 and "litellm_" in metrics.text
    finally:
        proxy.stop()
