import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CircuitBreaker, CircuitOpenError, type StateChange } from "../src/circuit-breaker.js";

function breakerWithClock(): { breaker: CircuitBreaker; changes: StateChange[]; advance: (s: number) => void } {
  let now = 1000;
  const changes: StateChange[] = [];
  const breaker = new CircuitBreaker("test", {
    clock: () => now,
    wallClock: () => 1_700_000_000 + now,
    listeners: [(change) => changes.push(change)],
  });
  return { breaker, changes, advance: (s) => (now += s) };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i += 1) {
    breaker.beforeCall();
    breaker.recordFailure();
  }
}

describe("CircuitBreaker", () => {
  it("stays closed through four consecutive failures and opens on the fifth", () => {
    const { breaker, changes } = breakerWithClock();
    fail(breaker, 4);
    assert.equal(breaker.state, "closed");
    fail(breaker, 1);
    assert.equal(breaker.state, "open");
    assert.deepEqual(changes, [
      { name: "test", state: "open", previous: "closed", failureCount: 5, timestamp: 1_700_001_000 },
    ]);
  });

  it("a success resets the consecutive failure count", () => {
    const { breaker } = breakerWithClock();
    fail(breaker, 4);
    breaker.beforeCall();
    breaker.recordSuccess();
    fail(breaker, 4);
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.failureCount, 4);
  });

  it("refuses calls while open and says how long to wait", () => {
    const { breaker, advance } = breakerWithClock();
    fail(breaker, 5);
    advance(10);
    assert.throws(
      () => breaker.beforeCall(),
      (error: unknown) => error instanceof CircuitOpenError && error.retryAfterS === 20,
    );
  });

  it("lets exactly one probe through after 30 s and closes when it succeeds", () => {
    const { breaker, changes, advance } = breakerWithClock();
    fail(breaker, 5);
    advance(30);
    breaker.beforeCall();
    assert.equal(breaker.state, "half_open");
    assert.throws(
      () => breaker.beforeCall(),
      (error: unknown) => error instanceof CircuitOpenError && error.retryAfterS === 1,
    );
    breaker.recordSuccess();
    assert.equal(breaker.state, "closed");
    assert.deepEqual(
      changes.map((c) => [c.previous, c.state]),
      [
        ["closed", "open"],
        ["open", "half_open"],
        ["half_open", "closed"],
      ],
    );
  });

  it("a failed probe opens the breaker for another full timeout", () => {
    const { breaker, advance } = breakerWithClock();
    fail(breaker, 5);
    advance(30);
    breaker.beforeCall();
    breaker.recordFailure();
    assert.equal(breaker.state, "open");
    advance(29);
    assert.throws(() => breaker.beforeCall(), CircuitOpenError);
    advance(1);
    breaker.beforeCall();
    assert.equal(breaker.state, "half_open");
  });

  it("a probe that never reports back counts as abandoned after one timeout", () => {
    const { breaker, advance } = breakerWithClock();
    fail(breaker, 5);
    advance(30);
    breaker.beforeCall();
    advance(30);
    breaker.beforeCall();
    assert.equal(breaker.state, "half_open");
  });

  it("a success from a call started before the breaker opened does not close it", () => {
    const { breaker } = breakerWithClock();
    fail(breaker, 5);
    breaker.recordSuccess();
    assert.equal(breaker.state, "open");
  });

  it("rejects a threshold that is not a positive integer", () => {
    assert.throws(() => new CircuitBreaker("x", { failureThreshold: 0 }), RangeError);
  });
});
