/**
 * Circuit breaker with the same semantics as runtime/breaker.py (the gateway's and the Python
 * client's): N consecutive failures open it, after the reset timeout one probe is let through
 * (half-open), the probe's success closes it and its failure opens it again.
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
  private probeInFlight = false;

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
    return this.currentState;
  }

  get failureCount(): number {
    return this.failures;
  }

  /** Throws CircuitOpenError when the call must not be made; otherwise the caller reports back. */
  beforeCall(): void {
    if (this.currentState === "open") {
      if (this.clock() - this.openedAt < this.resetTimeoutS) {
        throw new CircuitOpenError(this.name, this.retryAfterS());
      }
      this.transition("half_open");
    }
    if (this.currentState === "half_open") {
      // Only one probe at a time: concurrent callers would otherwise all hit a sick upstream.
      if (this.probeInFlight) {
        throw new CircuitOpenError(this.name, this.retryAfterS());
      }
      this.probeInFlight = true;
    }
  }

  recordSuccess(): void {
    this.probeInFlight = false;
    this.failures = 0;
    if (this.currentState !== "closed") {
      this.transition("closed");
    }
  }

  recordFailure(): void {
    this.probeInFlight = false;
    this.failures += 1;
    if (this.currentState === "half_open" || this.failures >= this.failureThreshold) {
      this.openedAt = this.clock();
      if (this.currentState !== "open") {
        this.transition("open");
      }
    }
  }

  /** Seconds until a probe is allowed; 0 when closed. */
  retryAfterS(): number {
    if (this.currentState === "closed") {
      return 0;
    }
    if (this.currentState === "half_open") {
      return this.probeInFlight ? this.resetTimeoutS : 0;
    }
    return Math.max(0, this.resetTimeoutS - (this.clock() - this.openedAt));
  }

  private transition(state: BreakerState): void {
    const change: StateChange = {
      name: this.name,
      state,
      previous: this.currentState,
      failureCount: this.failures,
      timestamp: this.wallClock(),
    };
    this.currentState = state;
    for (const listener of this.listeners) {
      listener(change);
    }
  }
}
