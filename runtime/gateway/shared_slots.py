"""Admission slots shared by every replica in Redis: one sorted set per (backend class, route
kind) whose members are the leases held, each scored with the time it expires.

Acquiring is one Lua call (drop expired leases, count, add ours if there is room: atomic, so two
replicas can never both take the last slot) and releasing is one ZREM. A lease lives
`lease_s` from Redis's own clock (TIME inside the script, so replicas' clocks do not matter); the
replica renews the leases it holds every lease_s/3, so a long stream keeps its slot while a
replica that crashed or lost its network frees its slots at most lease_s later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from runtime.breaker import CircuitBreaker, CircuitOpenError
from runtime.gateway.ratelimit import RedisUnavailableError

__all__ = ["RedisSlots"]

_log = logging.getLogger("policy_gateway.admission")

# KEYS[1]=the slot set; ARGV: limit, lease_ms, lease id. Returns 1 (admitted) or 0 (full).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1]=the slot set; ARGV: lease_ms, lease ids. Moves the expiry of the leases still there (XX:
# a lease that already expired is not brought back, it may have been given to someone else).
_RENEW = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisSlots:
    def __init__(
        self, redis: aioredis.Redis, breaker: CircuitBreaker, *, lease_s: float, prefix: str = "pgw"
    ) -> None:
        self._redis = redis
        self._breaker = breaker  # the Redis breaker the rate limiter uses: one view of Redis's health
        self.lease_s = lease_s
        self._lease_ms = max(1, round(lease_s * 1000))
        self._prefix = prefix
        self._replica = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._held: dict[str, set[str]] = {}  # slot set -> leases this replica holds
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)

    def _key(self, backend: str, kind: str) -> str:
        return f"{self._prefix}:adm:{backend}:{kind}"

    async def _call(self, script: Any, key: str, args: list[Any]) -> Any:
        try:
            self._breaker.before_call()
        except CircuitOpenError as exc:
            raise RedisUnavailableError("circuit open") from exc
        try:
            result = await script(keys=[key], args=args)
        except (RedisError, OSError) as exc:
            self._breaker.record_failure()
            raise RedisUnavailableError(type(exc).__name__) from exc
        self._breaker.record_success()
        return result

    async def acquire(self, backend: str, kind: str, limit: int) -> str | None:
        """A lease on one of the `limit` slots, or None when all are taken; RedisUnavailableError
        when Redis cannot answer (the caller applies the fail mode)."""
        key = self._key(backend, kind)
        lease = f"{self._replica}:{next(self._ids)}"
        if not int(await self._call(self._acquire, key, [limit, self._lease_ms, lease])):
            return None
        self._held.setdefault(key, set()).add(lease)
        return lease

    async def release(self, backend: str, kind: str, lease: str) -> None:
        """Give the slot back; when Redis cannot be reached the lease expires on its own."""
        key = self._key(backend, kind)
        self._held.get(key, set()).discard(lease)
        try:
            await self._redis.zrem(key, lease)
        except (RedisError, OSError):
            _log.warning("admission lease not released (it expires by itself)", extra={"slot_set": key})

    async def renew(self) -> None:
        """Push back the expiry of every lease this replica holds (one call per slot set)."""
        for key, leases in list(self._held.items()):
            if leases:
                with contextlib.suppress(RedisUnavailableError):
                    await self._call(self._renew, key, [self._lease_ms, *sorted(leases)])

    async def keep_alive(self) -> None:
        """The renewal loop: run as a task for the life of the app."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            await self.renew()
