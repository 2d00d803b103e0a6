"""The Redis connection pool of the rate limiter is bounded: a request waits up to 0.5 s for a
free connection, then Redis counts as unavailable (the fail mode applies) instead of a new
connection being opened. Against a silent TCP server, so connections are held as long as can be."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.gateway.app import redis_client
from runtime.gateway.ratelimit import RateLimiter, RedisUnavailableError
from runtime.gateway.sentinel import sentinel_redis_client


@pytest.fixture
async def silent_redis() -> AsyncIterator[tuple[str, list[Any]]]:
    """A TCP server that accepts and never answers; yields its URL and its open connections."""
    connections: list[Any] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", connections
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()


def test_the_pool_is_a_blocking_pool_of_the_configured_size() -> None:
    pool: Any = redis_client("redis://127.0.0.1:1/0", 7).connection_pool
    assert type(pool).__name__ == "BlockingConnectionPool"
    assert (pool.max_connections, pool.timeout) == (7, 0.5)


async def test_a_full_pool_makes_redis_unavailable_without_opening_more_connections(
    silent_redis: tuple[str, list[Any]],
) -> None:
    url, connections = silent_redis
    redis = redis_client(url, 2)
    limiter = RateLimiter(redis, requests_per_minute=60)
    started = time.monotonic()
    results = await asyncio.gather(*(limiter.admit(f"key-{i}") for i in range(6)), return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, RedisUnavailableError) for r in results), results
    causes = sorted({str(r.__cause__) for r in results})
    assert any("No connection available" in c for c in causes), causes  # the four that waited for the pool
    assert len(connections) == 2  # never more than the pool's size
    assert elapsed < 2.0  # each waited 0.5 s for Redis or for the pool, not 20 s
    await redis.aclose()


async def test_the_sentinel_pool_is_bounded_too_and_an_unknown_master_makes_redis_unavailable() -> None:
    redis = sentinel_redis_client([("127.0.0.1", 1)], "gateway", 7, password="pw")
    pool: Any = redis.connection_pool
    assert (pool.max_connections, pool.timeout, pool.service_name) == (7, 0.5, "gateway")
    assert pool.connection_kwargs["password"] == "pw"
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError):  # no sentinel answers: the fail mode applies, at once
        await RateLimiter(redis, requests_per_minute=60).admit("key")
    assert time.monotonic() - started < 2.0
    await redis.aclose()
