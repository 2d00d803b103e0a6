"""The gateway's Redis behind Redis Sentinel (seed 002, requirement 17): the master is found by
asking the sentinels, and found again after a failover.

The pool keeps the limits of the single-URL client (app.redis_client): at most `max_connections`
connections, a request waits up to 0.5 s for one, and short socket timeouts, so a failover costs a
few refused (or, with fail_mode open, unlimited) requests, never hung ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

__all__ = ["sentinel_redis_client"]


class _BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's bounded wait for a free connection."""


def sentinel_redis_client(
    sentinels: Sequence[tuple[str, int]],
    master_name: str,
    max_connections: int,
    *,
    password: str | None = None,
) -> aioredis.Redis:
    timeouts = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    # No retries against a sentinel: discovery already asks the next one, and redis-py's default
    # backoff made a request wait 5 s when none answered (measured) instead of failing at once.
    ask = {**timeouts, "retry": Retry(NoBackoff(), 0)}
    manager = Sentinel(list(sentinels), sentinel_kwargs=ask)  # type: ignore[no-untyped-call]
    client: aioredis.Redis = manager.master_for(
        master_name,
        redis_class=aioredis.Redis,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=max_connections,
        timeout=0.5,
        password=password,
        health_check_interval=0,
        **timeouts,
    )
    return client
