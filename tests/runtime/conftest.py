"""Fixtures for the gateway's in-process tests: the fake provider from tests/integration served
on a loopback port inside the test's event loop, the app with a fake policy store, and an httpx
client talking to the app through ASGI (no Redis here: limits are tested against real Redis in
tests/integration)."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fakes import KEY, FakePolicyStore, gateway_json, write_generated

from runtime.gateway.app import GatewayApp
from runtime.settings import Settings, load_settings

_spec = importlib.util.spec_from_file_location(
    "fake_provider", Path(__file__).parents[1] / "integration" / "fake_provider.py"
)
assert _spec and _spec.loader
fake_provider = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_provider)


@pytest.fixture
async def provider() -> AsyncIterator[Any]:
    """The fake provider, in this event loop: `.state` is the FakeProvider, `.url` its /v1."""
    state = fake_provider.FakeProvider()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await fake_provider._serve_connection(state, r, w)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Handle:
        pass

    handle = Handle()
    handle.state = state  # type: ignore[attr-defined]
    handle.url = f"http://127.0.0.1:{port}/v1"  # type: ignore[attr-defined]
    yield handle
    server.close()
    await server.wait_closed()


@pytest.fixture
def make_settings(tmp_path: Path, provider: Any) -> Callable[..., Settings]:
    def make(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        write_generated(tmp_path, gateway_json(provider.url, **overrides))
        env = {"POLICY_GATEWAY_API_KEYS": KEY, "POLICY_GATEWAY_HEALTH_INTERVAL_S": "0"}
        env.update(environ or {})
        return load_settings("test", tmp_path, env)

    return make


@pytest.fixture
def policy() -> FakePolicyStore:
    return FakePolicyStore()


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings], policy: FakePolicyStore) -> AsyncIterator[Callable[..., Any]]:
    """`await gateway(**gateway_json_overrides)` -> (app, httpx client)."""
    apps: list[GatewayApp] = []
    clients: list[httpx.AsyncClient] = []

    async def start(
        environ: dict[str, str] | None = None,
        *,
        monotonic: Any = None,
        tracer_provider: Any = None,
        store_factory: Any = None,
        **overrides: Any,
    ) -> Any:
        kwargs: dict[str, Any] = {"monotonic": monotonic} if monotonic is not None else {}
        if tracer_provider is not None:
            kwargs["tracer_provider"] = tracer_provider
        if store_factory is not None:
            kwargs["store_factory"] = store_factory
        app = GatewayApp(make_settings(environ, **overrides), policy, **kwargs)
        await app.startup()
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 5555)),
            base_url="http://gateway.test",
            headers={"authorization": f"Bearer {KEY}"},
        )
        clients.append(client)
        return app, client

    yield start
    for c in clients:
        await c.aclose()
    for a in apps:
        await a.shutdown()
