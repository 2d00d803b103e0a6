"""Admission control per (backend class, route kind): an in-flight limit with no queue. Overload is
refused at once (429, Retry-After: 5) instead of piling up latency behind a saturated backend
(seed 003).

With Redis (shared_slots.RedisSlots) the limit holds across every replica: the slots are leases in
Redis, and this replica's counters are only its share, for the status page. Without Redis, or
while Redis is down in fail-open mode, each replica counts alone (one event loop per process, so
plain counters are race-free)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from runtime.errors import ApiError, retry_after
from runtime.gateway.ratelimit import RedisUnavailableError
from runtime.gateway.shared_slots import RedisSlots

__all__ = ["ADMISSION_RETRY_AFTER_S", "AdmissionController"]

ADMISSION_RETRY_AFTER_S = 5


class AdmissionController:
    def __init__(
        self,
        limits: Mapping[str, Mapping[str, int]],
        *,
        shared: RedisSlots | None = None,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.shared = shared
        self._on_reject = on_reject
        # limits: backend class -> route kind -> max in flight
        self._limits = {(b, k): n for b, kinds in limits.items() for k, n in kinds.items()}
        self._inflight = dict.fromkeys(self._limits, 0)
        self._rejected = dict.fromkeys(self._limits, 0)
        self._admitted = dict.fromkeys(self._limits, 0)

    @asynccontextmanager
    async def slot(
        self, backend: str, kind: str, *, store_down: Callable[[], None] = lambda: None
    ) -> AsyncIterator[None]:
        """Hold one in-flight slot for the body of the `async with`; raise 429 when none is free.
        `store_down` is called when Redis cannot answer: it raises to refuse (fail mode closed) or
        returns, and then this replica's own count decides."""
        key = (backend, kind)
        limit = self._limits.get(key)
        if limit is None:
            # Capability gating runs first, so a missing limit means the spec gave none.
            yield
            return
        lease = None
        counted_here = True
        if self.shared is not None:
            try:
                lease = await self.shared.acquire(backend, kind, limit)
            except RedisUnavailableError:
                store_down()
            else:
                counted_here = False
                if lease is None:
                    self._refuse(backend, kind, limit, "across all replicas")
        if counted_here and self._inflight[key] >= limit:
            self._refuse(backend, kind, limit, "in this replica")
        self._inflight[key] += 1
        self._admitted[key] += 1
        try:
            yield
        finally:
            self._inflight[key] -= 1
            if lease is not None and self.shared is not None:
                # shielded: a request cancelled (client gone) still gives its slot back
                await asyncio.shield(self.shared.release(backend, kind, lease))

    def _refuse(self, backend: str, kind: str, limit: int, where: str) -> None:
        self._rejected[(backend, kind)] += 1
        if self._on_reject is not None:
            self._on_reject(backend, kind)
        raise ApiError(
            429,
            f"backend {backend!r} is at its limit of {limit} concurrent {kind} requests ({where}); "
            f"retry in {ADMISSION_RETRY_AFTER_S} s",
            type_="rate_limit_error",
            code="backend_overloaded",
            headers=[retry_after(ADMISSION_RETRY_AFTER_S)],
        )

    def inflight(self, backend: str, kind: str) -> int:
        """This replica's requests in flight on the backend."""
        return self._inflight.get((backend, kind), 0)

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (backend, kind), limit in sorted(self._limits.items()):
            out.setdefault(backend, {})[kind] = {
                "limit": limit,
                "inflight": self._inflight[(backend, kind)],
                "admitted": self._admitted[(backend, kind)],
                "rejected": self._rejected[(backend, kind)],
            }
        return out
