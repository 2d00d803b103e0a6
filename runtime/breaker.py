"""Circuit breaker in front of the model provider, shared by the gateway and the Python client.

closed → open after `failure_threshold` consecutive failures → half_open once `reset_timeout_s`
has passed (one probe is let through) → closed on the probe's success, open again on its failure.
Time comes from injected clocks so tests run "30 s later" in microseconds (pybreaker's listener
model, without its global state). Listeners are called after the lock is released, so a listener
may read the breaker without deadlocking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError", "StateChange"]

_log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class StateChange:
    name: str
    state: BreakerState
    previous: BreakerState
    failure_count: int
    timestamp: float  # wall-clock unix seconds, for events and logs


class CircuitOpenError(Exception):
    """The breaker refuses the call; `retry_after_s` is when asking again makes sense."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry after {retry_after_s:.1f} s")
        self.name = name
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        listeners: Sequence[Callable[[StateChange], None]] = (),
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout_s <= 0:
            raise ValueError("reset_timeout_s must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        # When the half-open probe started; None while no probe is in flight.
        self._probe_started: float | None = None

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            change = self._advance()
            state = self._state
        self._notify(change)
        return state

    @property
    def failure_count(self) -> int:
        return self._failures

    def before_call(self) -> None:
        """Let a call through, or raise CircuitOpenError without touching the upstream."""
        with self._lock:
            change = self._advance()
            refused: float | None = None
            if self._state is BreakerState.OPEN:
                refused = self._open_remaining()
            elif self._state is BreakerState.HALF_OPEN:
                now = self._clock()
                # A probe whose caller vanished (cancelled, crashed) without reporting would keep
                # the breaker half-open forever; after one reset timeout it counts as abandoned.
                if self._probe_started is not None and now - self._probe_started < self.reset_timeout_s:
                    refused = self._probe_remaining(now)
                else:
                    self._probe_started = now
        self._notify(change)
        if refused is not None:
            raise CircuitOpenError(self.name, refused)

    def record_success(self) -> None:
        with self._lock:
            change = None
            if self._state is BreakerState.HALF_OPEN:
                change = self._transition(BreakerState.CLOSED, failures=0)
            elif self._state is BreakerState.CLOSED:
                self._failures = 0
            # A success reported while open comes from a call started before the breaker
            # opened; it proves nothing about now, so the breaker waits for its probe.
        self._notify(change)

    def record_failure(self) -> None:
        with self._lock:
            change = None
            if self._state is BreakerState.HALF_OPEN:
                change = self._transition(BreakerState.OPEN, failures=self._failures + 1)
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    change = self._transition(BreakerState.OPEN, failures=self._failures)
        self._notify(change)

    def retry_after_s(self) -> float:
        """Seconds until a call may be let through again; 0.0 when one would be now."""
        with self._lock:
            change = self._advance()
            if self._state is BreakerState.OPEN:
                remaining = self._open_remaining()
            elif self._state is BreakerState.HALF_OPEN and self._probe_started is not None:
                remaining = self._probe_remaining(self._clock())
            else:
                remaining = 0.0
        self._notify(change)
        return remaining

    # --- internals: called with the lock held -------------------------------------------

    def _advance(self) -> StateChange | None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            return self._transition(BreakerState.HALF_OPEN, failures=self._failures)
        return None

    def _open_remaining(self) -> float:
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def _probe_remaining(self, now: float) -> float:
        # The probe usually answers well before the abandonment deadline; 1 s is a polite
        # lower bound for clients that would otherwise retry in a tight loop.
        assert self._probe_started is not None
        deadline = self._probe_started + self.reset_timeout_s - now
        return max(0.0, min(1.0, deadline))

    def _transition(self, state: BreakerState, *, failures: int) -> StateChange:
        previous = self._state
        self._state = state
        self._failures = failures
        self._probe_started = None
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        return StateChange(
            name=self.name,
            state=state,
            previous=previous,
            failure_count=failures,
            timestamp=self._wall_clock(),
        )

    def _notify(self, change: StateChange | None) -> None:
        if change is None:
            return
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                # Telemetry must never decide whether traffic flows.
                _log.exception("circuit breaker listener failed", extra={"breaker": self.name})
