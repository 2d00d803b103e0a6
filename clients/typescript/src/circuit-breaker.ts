/**
 * Circuit breaker with the same semantics as runtime/breaker.py (the gateway's and the Python
 * client's): N consecutive failures open it, after the reset timeout one probe is let through
 * (half-open), the probe's success closes it and its failure opens it again. Kept in step with
 * the Python implementation by hand: the tests of both assert the same transitions.
 */

export type BreakerState = "closed" | "open" | "half_open";

export interface StateChange {
  readonly name: string;
  readonly state: BreakerState;
  readonly previous: BreakerState;
  readonly failureCount: number;
  /** Wall-clock time of the transition, in seconds since the epoch (like Python's time.time()). */
  readonly timestamp: number;
}

export type StateChangeListener = (change: StateChange) => void;

export class CircuitOpenError extends Error {
  readonly retryAfterS: number;

  constructor(name: string, retryAfterS: number) {
    super(`circuit breaker "${name}" is open; retry after ${retryAfterS.toFixed(1)} s`);
    this.name = "CircuitOpenError";
    this.retryAfterS = retryAfterS;
  }
}

export interface CircuitBreakerOptions {
  failureThreshold?: number;
  resetTimeoutS?: number;
  /** Monotonic clock in seconds; injected so tests of "half-open after 30 s" do not sleep. */
  clock?: () => number;
  /** Wall clock in seconds, only for the timestamp carried by state changes. */
  wallClock?: () => number;
  listeners?: readonly StateChangeListener[];
}

export class CircuitBreaker {
  readonly name: string;
  private readonly failureThreshold: number;
  private readonly resetTimeoutS: number;
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly listeners: readonly StateChangeListener[];
  private currentState: BreakerState = "closed";
  private failures = 0;
  private openedAt = 0;
  /** When the half-open probe started; null while no probe is in flight. */
  private probeStarted: number | null = null;

  constructor(name: string, options: CircuitBreakerOptions = {}) {
    const threshold = options.failureThreshold ?? 5;
    const reset = options.resetTimeoutS ?? 30;
    if (!Number.isInteger(threshold) || threshold < 1) {
      throw new RangeError(`failureThreshold must be a positive integer, got ${threshold}`);
    }
    if (!(reset > 0)) {
      throw new RangeError(`resetTimeoutS must be positive, got ${reset}`);
    }
    this.name = name;
    this.failureThreshold = threshold;
    this.resetTimeoutS = reset;
    this.clock = options.clock ?? (() => performance.now() / 1000);
    this.wallClock = options.wallClock ?? (() => Date.now() / 1000);
    this.listeners = options.listeners ?? [];
  }

  get state(): BreakerState {
    this.advance();
    return this.currentState;
  }

  get failureCount(): number {
    return this.failures;
  }

  /** Throws CircuitOpenError when the call must not be made; otherwise the caller reports back. */
  beforeCall(): void {
    this.advance();
    if (this.currentState === "open") {
      throw new CircuitOpenError(this.name, this.openRemaining());
    }
    if (this.currentState === "half_open") {
      const now = this.clock();
      // One probe at a time; a probe whose caller never reported back counts as abandoned
      // after one reset timeout, so the breaker cannot stay half-open forever.
      if (this.probeStarted !== null && now - this.probeStarted < this.resetTimeoutS) {
        throw new CircuitOpenError(this.name, this.probeRemaining(now));
      }
      this.probeStarted = now;
    }
  }

  recordSuccess(): void {
    if (this.currentState === "half_open") {
      this.transition("closed", 0);
    } else if (this.currentState === "closed") {
      this.failures = 0;
    }
    // A success reported while open comes from a call started before the breaker opened;
    // it proves nothing about now, so the breaker waits for its probe.
  }

  recordFailure(): void {
    if (this.currentState === "half_open") {
      this.transition("open", this.failures + 1);
    } else if (this.currentState === "closed") {
      this.failures += 1;
      if (this.failures >= this.failureThreshold) {
        this.transition("open", this.failures);
      }
    }
  }

  /** Seconds until a call may be let through again; 0 when one would be now. */
  retryAfterS(): number {
    this.advance();
    if (this.currentState === "open") {
      return this.openRemaining();
    }
    if (this.currentState === "half_open" && this.probeStarted !== null) {
      return this.probeRemaining(this.clock());
    }
    return 0;
  }

  private advance(): void {
    if (this.currentState === "open" && this.clock() - this.openedAt >= this.resetTimeoutS) {
      this.transition("half_open", this.failures);
    }
  }

  private openRemaining(): number {
    return Math.max(0, this.openedAt + this.resetTimeoutS - this.clock());
  }

  private probeRemaining(now: number): number {
    // The probe usually answers well before the abandonment deadline; 1 s is a polite lower
    // bound for clients that would otherwise retry in a tight loop.
    return Math.max(0, Math.min(1, (this.probeStarted ?? now) + this.resetTimeoutS - now));
  }

  private transition(state: BreakerState, failures: number): void {
    const change: StateChange = {
      name: this.name,
      state,
      previous: this.currentState,
      failureCount: failures,
      timestamp: this.wallClock(),
    };
    this.currentState = state;
    this.failures = failures;
    this.probeStarted = null;
    if (state === "open") {
      this.openedAt = this.clock();
    }
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // Telemetry must never decide whether traffic flows.
      }
    }
  }
}
