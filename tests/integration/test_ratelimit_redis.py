"""The per-key rate limit and token budget against a real redis-server: atomic under concurrent
requests, expiring keys, time moved by an injected clock (no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from gateway_stack import RedisServer
from redis import asyncio as aioredis

from runtime.gateway.app import redis_client
from runtime.gateway.ratelimit import RateLimiter, RedisUnavailableError

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


async def test_concurrent_requests_never_take_more_than_the_limit(redis: aioredis.Redis) -> None:
    clock = Clock()
    # Two limiters on one Redis stand for two gateway replicas.
    replicas = [RateLimiter(redis, requests_per_minute=20, clock=clock) for _ in range(2)]
    results = await asyncio.gather(*(replicas[i % 2].admit("key-a") for i in range(60)))
    assert sum(r.allowed for r in results) == 20
    refused = [r for r in results if not r.allowed]
    assert all(r.limit_name == "requests" and r.remaining == 0 for r in refused)
    assert all(2.9 <= r.retry_after_s <= 3.0 for r in refused)  # one slot every 60/20 s


async def test_slots_come_back_with_time_and_keys_are_independent(redis: aioredis.Redis) -> None:
    clock = Clock()
    limiter = RateLimiter(redis, requests_per_minute=6, clock=clock)
    assert [(await limiter.admit("k")).allowed for _ in range(7)] == [True] * 6 + [False]
    assert (await limiter.admit("other")).allowed
    clock.now += 10  # one slot per 10 s
    assert (await limiter.admit("k")).allowed
    assert not (await limiter.admit("k")).allowed
    clock.now += 60
    result = await limiter.admit("k")
    assert result.allowed and result.remaining == 5
    headers = dict(result.headers())
    assert headers[b"x-ratelimit-limit"] == b"6"
    assert headers[b"x-ratelimit-remaining"] == b"5"


async def test_keys_expire_once_the_bucket_is_full_again(redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, requests_per_minute=6, tokens_per_minute=1000, clock=Clock())
    await limiter.admit("k")
    await limiter.charge_tokens("k", 500)
    ttl_requests = await redis.pttl("pgw:rl:k")
    ttl_tokens = await redis.pttl("pgw:tb:k")
    assert 0 < ttl_requests <= 10_000  # one request = 10 s of a 60 s window
    assert 0 < ttl_tokens <= 30_000  # 500 of 1000 tokens per minute


async def test_a_spent_token_budget_refuses_until_it_refills(redis: aioredis.Redis) -> None:
    clock = Clock()
    limiter = RateLimiter(redis, requests_per_minute=1000, tokens_per_minute=600, clock=clock)
    assert (await limiter.admit("k")).allowed
    assert await limiter.charge_tokens("k", 900) == -300  # the answer overspent: in debt
    refused = await limiter.admit("k")
    assert not refused.allowed
    assert refused.limit_name == "tokens"
    assert refused.retry_after_s == pytest.approx(30.1, abs=0.2)
    clock.now += 31
    assert (await limiter.admit("k")).allowed


async def test_concurrent_charges_all_count(redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, requests_per_minute=None, tokens_per_minute=6000, clock=Clock())
    await asyncio.gather(*(limiter.charge_tokens("k", 100) for _ in range(30)))
    assert await limiter.charge_tokens("k", 0) is None
    assert await limiter.charge_tokens("k", 1) == 6000 - 3001


async def test_an_unreachable_redis_raises_for_the_fail_mode_to_decide() -> None:
    from gateway_stack import free_port

    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(client, requests_per_minute=5)
    with pytest.raises(RedisUnavailableError):
        await limiter.admit("k")
    assert await limiter.ping() is False
    await client.aclose()


async def test_a_password_in_redis_url_opens_a_redis_that_requires_one(
        start_redis: Callable[..., RedisServer]) -> None:
    # What the generated compose file does: redis-server --requirepass, REDIS_URL=redis://:<password>@…
    server = start_redis(password="5f2b9c0e1d7a4b36")
    with_password = redis_client(server.url, max_connections=2)
    without = redis_client(server.url.replace(":5f2b9c0e1d7a4b36@", ""), max_connections=2)
    try:
        assert (await RateLimiter(with_password, requests_per_minute=5, clock=Clock()).admit("k")).allowed
        with pytest.raises(RedisUnavailableError, match="AuthenticationError"):
            await RateLimiter(without, requests_per_minute=5, clock=Clock()).admit("k")
    finally:
        await with_password.aclose()
        await without.aclose()
