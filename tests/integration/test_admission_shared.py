"""Admission shared across replicas: two real gateway processes on one real redis-server never have
more image requests in flight at the backend than gpu_heavy's limit of 2 (seed 003), counted at
the fake provider; a killed replica's slots come back once their lease runs out, and a live
replica keeps its slots past the lease by renewing them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from gateway_stack import CLIENT_KEYS, FakeProviderProcess, Gateway, RedisServer
from redis import asyncio as aioredis

from runtime.breaker import CircuitBreaker
from runtime.gateway.shared_slots import RedisSlots

pytestmark = pytest.mark.integration

LIMIT = 2  # specs/backends.yaml: gpu_heavy concurrency {images: 2}


@pytest.fixture
def slow_provider(fake_provider: FakeProviderProcess) -> Iterator[FakeProviderProcess]:
    fake_provider.reset()
    yield fake_provider
    fake_provider.control(delay_s=0)
    fake_provider.reset()


def _replicas(
    start_gateway: Callable[..., Gateway], provider: FakeProviderProcess, redis: RedisServer, **environ: str
) -> list[Gateway]:
    """Two gateway processes straight in front of the fake provider, sharing one Redis."""
    return [start_gateway("staging", upstream=provider.base_url, redis_url=redis.url, **environ) for _ in range(2)]


async def _image(client: httpx.AsyncClient, gateway: Gateway) -> httpx.Response:
    return await client.post(
        f"{gateway.url}/v1/images/generations",
        json={"model": "image-default", "prompt": "a red bicycle"},
        headers={"authorization": f"Bearer {CLIENT_KEYS[0]}"},
        timeout=30,
    )


async def _until(predicate: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_two_replicas_never_admit_more_than_the_backend_limit(
    start_gateway: Callable[..., Gateway], start_redis: Callable[[], RedisServer], slow_provider: FakeProviderProcess
) -> None:
    a, b = _replicas(start_gateway, slow_provider, start_redis())
    slow_provider.control(delay_s=1.5)
    async with httpx.AsyncClient() as client:
        # A takes both slots; B, with nothing in flight itself, must still refuse.
        held = [asyncio.create_task(_image(client, a)) for _ in range(LIMIT)]
        await _until(lambda: slow_provider.inflight()["now"] == LIMIT)
        refused = await asyncio.gather(*(_image(client, b) for _ in range(3)), _image(client, a))
        assert [r.status_code for r in refused] == [429] * 4
        assert all(r.json()["error"]["code"] == "backend_overloaded" for r in refused)
        assert "across all replicas" in refused[0].json()["error"]["message"]
        assert [r.status_code for r in await asyncio.gather(*held)] == [200] * LIMIT
        # Released on completion: B is admitted now.
        assert (await _image(client, b)).status_code == 200
        # A burst through both replicas at once: exactly the limit gets through.
        slow_provider.reset()  # the peak from here on (and the delay again)
        slow_provider.control(delay_s=1.5)
        burst = await asyncio.gather(*(_image(client, (a, b)[i % 2]) for i in range(10)))
    assert sorted(r.status_code for r in burst) == [200] * LIMIT + [429] * (10 - LIMIT)
    assert slow_provider.inflight()["peak"] == LIMIT


async def test_a_killed_replica_frees_its_slots_after_the_lease_and_a_live_one_keeps_them(
    start_gateway: Callable[..., Gateway], start_redis: Callable[[], RedisServer], slow_provider: FakeProviderProcess
) -> None:
    lease_s = 1.0
    a, b = _replicas(start_gateway, slow_provider, start_redis(), POLICY_GATEWAY_ADMISSION_LEASE_S=str(lease_s))
    slow_provider.control(delay_s=3 * lease_s)
    async with httpx.AsyncClient() as client:
        held = [asyncio.create_task(_image(client, a)) for _ in range(LIMIT)]
        await _until(lambda: slow_provider.inflight()["now"] == LIMIT)
        await asyncio.sleep(1.5 * lease_s)  # past one lease: A renewed its leases, so they still count
        assert (await _image(client, b)).status_code == 429
        os.killpg(a.process.pid, signal.SIGKILL)  # no release, no renewal from now on
        killed_at = time.monotonic()
        await asyncio.gather(*held, return_exceptions=True)
        slow_provider.control(delay_s=0)
        # Until the last renewal's lease runs out, the dead replica's slots stay taken...
        statuses = []
        while True:
            r = await _image(client, b)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert time.monotonic() - killed_at < 3 * lease_s, f"slots not freed: {statuses}"
            await asyncio.sleep(0.05)
        freed_after = time.monotonic() - killed_at
    # ...and no longer than a lease (plus one renewal interval already under way when killed).
    assert freed_after <= lease_s * 4 / 3 + 0.5, freed_after


async def test_acquire_and_release_are_one_redis_call_each(start_redis: Callable[[], RedisServer]) -> None:
    server = start_redis()
    redis = aioredis.Redis.from_url(server.url)
    try:
        slots = RedisSlots(redis, CircuitBreaker("redis", 1, 1.0), lease_s=30)
        warm = await slots.acquire("gpu_heavy", "images", LIMIT)  # redis-py loads the script once
        assert warm is not None
        await slots.release("gpu_heavy", "images", warm)
        await redis.config_resetstat()
        leases = [await slots.acquire("gpu_heavy", "images", LIMIT) for _ in range(3)]
        assert leases[2] is None and None not in leases[:2]
        for lease in leases[:2]:
            assert lease is not None
            await slots.release("gpu_heavy", "images", lease)
        stats: dict[str, Any] = await redis.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): stats[name]["calls"] for name in stats}
        calls.pop("config|resetstat", None)
        assert (calls.pop("evalsha"), calls.pop("zrem")) == (3, 2)
        # everything else ran inside the script (Redis counts those commands too)
        assert set(calls) <= {"time", "zremrangebyscore", "zcard", "zadd", "pexpire"}, calls
        assert await redis.zcard("pgw:adm:gpu_heavy:images") == 0
    finally:
        await redis.aclose()
