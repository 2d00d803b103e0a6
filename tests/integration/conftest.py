"""Real processes for the integration suite: Redis, the fake LLM provider, a LiteLLM proxy and the
policy gateway (`gatewayctl serve`), each on a free 127.0.0.1 port, each stopped by its pid.

Reusable by other suites (client adapters, ...). Fixtures:

  fake_provider        session   FakeProviderProcess: .base_url, .control(**state), .reset(),
                                 .requests(), .script(path, **raw_answer), .saw(text)
                                 (see fake_provider.py for every endpoint and the control API)
  redis_server         session   RedisServer: .url, .port, .stop(), .start() (same port)
  start_redis          function  (password=None) -> a private RedisServer, stopped after the test
  compiled_project     session   a temp copy of the project compiled with `gatewayctl compile
                                 --out`, the chat backend's base_url pointed at the fake provider
  litellm_proxy        session   LiteLLMProxy on the compiled staging config, models pointed at
                                 the fake provider: .url (no /v1), .stop(), .start() (same port)
  start_litellm        function  () -> a private LiteLLMProxy, stopped after the test
  staging_gateway      session   Gateway serving `staging` (policies in enforce) in front of
                                 litellm_proxy, with Redis and short breaker timeouts
  start_gateway        function  (env, upstream=..., **environ) -> Gateway, stopped after the test

A missing redis-server or litellm binary fails the test (scripts/setup installs both); nothing
here skips. Logs of every process are kept in pytest's tmp dirs and shown when startup fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gateway_stack import (
    FakeProviderProcess,
    Gateway,
    LiteLLMProxy,
    RedisServer,
    compile_project,
    gateway_environ,
    launch_gateway,
    litellm_test_config,
    start_fake_provider,
    stop_process,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis") / "redis.log").start()
    yield server
    server.stop()


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(password: str | None = None) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}.log", password=password).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def fake_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProviderProcess]:
    provider = start_fake_provider(tmp_path_factory.mktemp("provider") / "provider.log")
    yield provider
    stop_process(provider.process)


@pytest.fixture(scope="session")
def compiled_project(tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeProviderProcess) -> Path:
    """generated/ of a temp copy of the project (chat backend -> fake provider)."""
    return compile_project(tmp_path_factory.mktemp("project"), fake_provider.base_url)


@pytest.fixture(scope="session")
def litellm_proxy(
    compiled_project: Path, fake_provider: FakeProviderProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiteLLMProxy]:
    config = litellm_test_config(compiled_project, "staging", fake_provider.base_url)
    proxy = LiteLLMProxy(config, tmp_path_factory.mktemp("litellm") / "litellm.log").start()
    yield proxy
    proxy.stop()


@pytest.fixture
def start_litellm(
    compiled_project: Path, fake_provider: FakeProviderProcess, tmp_path: Path
) -> Iterator[Callable[[], LiteLLMProxy]]:
    started: list[LiteLLMProxy] = []

    def start() -> LiteLLMProxy:
        config = litellm_test_config(compiled_project, "staging", fake_provider.base_url)
        proxy = LiteLLMProxy(config, tmp_path / f"litellm-{len(started)}.log").start()
        started.append(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


@pytest.fixture(scope="session")
def staging_gateway(
    compiled_project: Path,
    litellm_proxy: LiteLLMProxy,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    gateway = launch_gateway(compiled_project, "staging", gateway_environ(litellm_proxy.url, redis_server.url), log)
    yield gateway
    gateway.stop()


@pytest.fixture
def start_gateway(
    compiled_project: Path, litellm_proxy: LiteLLMProxy, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(
        env_name: str = "staging",
        *,
        upstream: str | None = None,
        redis_url: str | None = None,
        generated: Path | None = None,
        wait: bool = True,
        **environ: str,
    ) -> Gateway:
        env = gateway_environ(upstream or litellm_proxy.url, redis_url or redis_server.url, **environ)
        gateway = launch_gateway(
            generated or compiled_project, env_name, env, tmp_path / f"gateway-{len(started)}.log", wait=wait
        )
        started.append(gateway)
        return gateway

    yield start
    for g in started:
        g.stop()
