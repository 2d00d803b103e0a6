"""The circuit breaker's state machine, driven by an injected clock (no sleeps)."""

from __future__ import annotations

import threading

import pytest

from runtime.breaker import BreakerState, CircuitBreaker, CircuitOpenError, StateChange


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(clock: FakeClock, events: list[StateChange] | None = None, **kw: float) -> CircuitBreaker:
    listeners = [events.append] if events is not None else []
    return CircuitBreaker(
        "llm-provider",
        int(kw.get("failure_threshold", 5)),
        float(kw.get("reset_timeout_s", 30.0)),
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0 + clock.now,
        listeners=listeners,
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_five_consecutive_failures_and_not_before() -> None:
    clock = FakeClock()
    events: list[StateChange] = []
    breaker = make(clock, events)
    fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 4
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    assert events == [StateChange("llm-provider", BreakerState.OPEN, BreakerState.CLOSED, 5, 1_700_001_000.0)]


def test_a_success_resets_the_consecutive_count() -> None:
    breaker = make(FakeClock())
    fail(breaker, 4)
    breaker.before_call()
    breaker.record_success()
    fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 4


def test_open_refuses_with_the_remaining_time() -> None:
    clock = FakeClock()
    breaker = make(clock)
    fail(breaker, 5)
    clock.advance(12.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after_s == pytest.approx(18.0)
    assert breaker.retry_after_s() == pytest.approx(18.0)


def test_half_open_after_the_timeout_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    events: list[StateChange] = []
    breaker = make(clock, events)
    fail(breaker, 5)
    clock.advance(29.999)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.001)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert 0.0 < info.value.retry_after_s <= 1.0
    assert [e.state for e in events] == [BreakerState.OPEN, BreakerState.HALF_OPEN]
    assert events[1].failure_count == 5


def test_successful_probe_closes_and_resets_the_count() -> None:
    clock = FakeClock()
    events: list[StateChange] = []
    breaker = make(clock, events)
    fail(breaker, 5)
    clock.advance(30.0)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0
    assert events[-1] == StateChange("llm-provider", BreakerState.CLOSED, BreakerState.HALF_OPEN, 0, 1_700_001_030.0)
    breaker.before_call()  # traffic flows again


def test_failed_probe_reopens_for_a_full_timeout() -> None:
    clock = FakeClock()
    events: list[StateChange] = []
    breaker = make(clock, events)
    fail(breaker, 5)
    clock.advance(30.0)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert events[-1].previous is BreakerState.HALF_OPEN
    assert events[-1].failure_count == 6
    assert breaker.retry_after_s() == pytest.approx(30.0)


def test_an_abandoned_probe_does_not_wedge_the_breaker_half_open() -> None:
    clock = FakeClock()
    breaker = make(clock)
    fail(breaker, 5)
    clock.advance(30.0)
    breaker.before_call()  # the probe's caller disappears without reporting
    clock.advance(30.0)
    breaker.before_call()  # a new probe is allowed
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_late_results_while_open_do_not_change_state() -> None:
    clock = FakeClock()
    events: list[StateChange] = []
    breaker = make(clock, events)
    fail(breaker, 5)
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert len(events) == 1


def test_threshold_and_timeout_are_configurable() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2, reset_timeout_s=0.5)
    fail(breaker, 2)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.5)
    assert breaker.state is BreakerState.HALF_OPEN


@pytest.mark.parametrize("kw", [{"failure_threshold": 0}, {"reset_timeout_s": 0.0}])
def test_nonsense_settings_are_rejected(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make(FakeClock(), **kw)


def test_a_failing_listener_does_not_break_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    def broken(change: StateChange) -> None:
        raise RuntimeError("exporter down")

    clock = FakeClock()
    breaker = CircuitBreaker("x", 1, 1.0, clock=clock, listeners=[broken])
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert "listener failed" in caplog.text


def test_a_listener_may_read_the_breaker_without_deadlock() -> None:
    seen: list[BreakerState] = []
    clock = FakeClock()
    breaker = CircuitBreaker("x", 1, 1.0, clock=clock)
    breaker.add_listener(lambda change: seen.append(breaker.state))
    breaker.before_call()
    breaker.record_failure()
    assert seen == [BreakerState.OPEN]


def test_concurrent_half_open_callers_get_a_single_probe() -> None:
    clock = FakeClock()
    breaker = make(clock)
    fail(breaker, 5)
    clock.advance(30.0)
    admitted: list[int] = []
    barrier = threading.Barrier(8)

    def caller(i: int) -> None:
        barrier.wait()
        try:
            breaker.before_call()
            admitted.append(i)
        except CircuitOpenError:
            pass

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 1
