"""Per-key request rate limits and token budgets, shared across replicas in Redis.

Both are GCRA (generic cell rate algorithm): one key per client holds a "theoretical arrival
time"; each Lua script reads and moves it atomically, so concurrent requests on any replica
cannot both take the last slot. Keys expire as soon as the bucket would be full again. The clock
is injected (passed to Redis as an argument), so tests move time without sleeping; replicas
should run NTP, as a skew of a few ms only shifts a bucket by as much.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from runtime.errors import retry_after

__all__ = ["LimitResult", "RateLimiter", "RedisUnavailableError"]

# KEYS[1]=request bucket, KEYS[2]=token bucket.
# ARGV: now_ms, rate_period_ms, rate_limit (0 = none), budget_period_ms, budget_limit (0 = none).
# The token budget is charged after the answer (tokens are known then); admission only asks
# that at least one token is left. Returns {allowed, which (1 rate, 2 budget), limit,
# remaining, reset_ms, retry_ms} for the limit that decided (the request limit when both pass).
_ADMIT = """
local now = tonumber(ARGV[1])
local function gcra(key, period, limit, cost, store)
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key))
  if not tat or tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - period
  if allow_at > now then
    return 0, 0, math.ceil(tat - now), math.ceil(allow_at - now)
  end
  if store then
    local ttl = math.max(1, math.ceil(new_tat - now))
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', ttl)
  end
  local remaining = math.floor((period - (new_tat - now)) / interval)
  return 1, remaining, math.ceil(new_tat - now), 0
end
local rate_limit = tonumber(ARGV[3])
local budget_limit = tonumber(ARGV[5])
if budget_limit > 0 then
  local ok, rem, reset, retry = gcra(KEYS[2], tonumber(ARGV[4]), budget_limit, 1, false)
  if ok == 0 then return {0, 2, budget_limit, rem, reset, retry} end
end
if rate_limit > 0 then
  local ok, rem, reset, retry = gcra(KEYS[1], tonumber(ARGV[2]), rate_limit, 1, true)
  return {ok, 1, rate_limit, rem, reset, retry}
end
return {1, 0, 0, 0, 0, 0}
"""

# KEYS[1]=token bucket; ARGV: now_ms, period_ms, limit, tokens. Charges unconditionally: the
# tokens are already spent, so the bucket may go into debt and refuse the next requests.
_CHARGE = """
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[4]) * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return math.floor((period - (new_tat - now)) / interval)
"""

_MINUTE_MS = 60_000


class RedisUnavailableError(Exception):
    """Redis could not answer; the caller applies POLICY_GATEWAY_FAIL_MODE."""


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    limit_name: str  # "requests" or "tokens" (the limit that decided), "" when none applies
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        if not self.limit_name:
            return []
        suffix = b"" if self.limit_name == "requests" else b"-Tokens"
        out = [
            (b"x-ratelimit-limit" + suffix.lower(), str(self.limit).encode()),
            (b"x-ratelimit-remaining" + suffix.lower(), str(max(0, self.remaining)).encode()),
            (b"x-ratelimit-reset" + suffix.lower(), str(math.ceil(self.reset_s)).encode()),
        ]
        if not self.allowed:
            out.append(retry_after(self.retry_after_s))
        return out


class RateLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None = None,
        clock: Callable[[], float] = time.time,
        prefix: str = "pgw",
    ) -> None:
        self._redis = redis
        self._rpm = requests_per_minute or 0
        self._tpm = tokens_per_minute or 0
        self._clock = clock
        self._prefix = prefix
        self._admit = redis.register_script(_ADMIT)
        self._charge = redis.register_script(_CHARGE)

    @property
    def enabled(self) -> bool:
        return bool(self._rpm or self._tpm)

    def _keys(self, key_id: str) -> list[str]:
        return [f"{self._prefix}:rl:{key_id}", f"{self._prefix}:tb:{key_id}"]

    async def admit(self, key_id: str) -> LimitResult:
        """Take one request slot for `key_id` if both the rate and the token budget allow it."""
        now_ms = int(self._clock() * 1000)
        try:
            raw: Any = await self._admit(
                keys=self._keys(key_id),
                args=[now_ms, _MINUTE_MS, self._rpm, _MINUTE_MS, self._tpm],
            )
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError(type(exc).__name__) from exc
        ok, which, limit, remaining, reset_ms, retry_ms = (int(x) for x in raw)
        return LimitResult(
            allowed=bool(ok),
            limit_name={1: "requests", 2: "tokens"}.get(which, ""),
            limit=limit,
            remaining=remaining,
            reset_s=reset_ms / 1000,
            retry_after_s=retry_ms / 1000,
        )

    async def charge_tokens(self, key_id: str, tokens: int) -> int | None:
        """Charge spent tokens to the budget; returns the tokens left (None: no budget)."""
        if not self._tpm or tokens <= 0:
            return None
        now_ms = int(self._clock() * 1000)
        try:
            left: Any = await self._charge(keys=self._keys(key_id)[1:], args=[now_ms, _MINUTE_MS, self._tpm, tokens])
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError(type(exc).__name__) from exc
        return int(left)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
