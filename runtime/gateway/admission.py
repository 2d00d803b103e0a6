"""Admission control per (backend class, route kind): an in-flight counter with a hard limit and
no queue. Overload is refused at once (429, Retry-After: 5) instead of piling up latency behind a
saturated backend (seed 003). One event loop per process, so plain counters are race-free."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from runtime.errors import ApiError

__all__ = ["ADMISSION_RETRY_AFTER_S", "AdmissionController"]

ADMISSION_RETRY_AFTER_S = 5


class AdmissionController:
    def __init__(
        self,
        limits: Mapping[str, Mapping[str, int]],
        *,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self._on_reject = on_reject
        # limits: backend class -> route kind -> max in flight
        self._limits = {(b, k): n for b, kinds in limits.items() for k, n in kinds.items()}
        self._inflight = dict.fromkeys(self._limits, 0)
        self._rejected = dict.fromkeys(self._limits, 0)
        self._admitted = dict.fromkeys(self._limits, 0)

    @contextmanager
    def slot(self, backend: str, kind: str) -> Iterator[None]:
        """Hold one in-flight slot for the body of the `with`; raise 429 when none is free."""
        key = (backend, kind)
        limit = self._limits.get(key)
        if limit is None:
            # Capability gating runs first, so a missing limit means the spec gave none.
            yield
            return
        if self._inflight[key] >= limit:
            self._rejected[key] += 1
            if self._on_reject is not None:
                self._on_reject(backend, kind)
            raise ApiError(
                429,
                f"backend {backend!r} is at its limit of {limit} concurrent {kind} requests; "
                f"retry in {ADMISSION_RETRY_AFTER_S} s",
                type_="rate_limit_error",
                code="backend_overloaded",
                headers=[(b"retry-after", str(ADMISSION_RETRY_AFTER_S).encode())],
            )
        self._inflight[key] += 1
        self._admitted[key] += 1
        try:
            yield
        finally:
            self._inflight[key] -= 1

    def inflight(self, backend: str, kind: str) -> int:
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
