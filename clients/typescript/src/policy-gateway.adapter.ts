/**
 * Client adapter for applications: chat completions through the policy gateway (or straight to
 * the LiteLLM proxy when the gateway is switched off), with a fail-closed circuit breaker and
 * typed errors. Mirrors runtime/client/policy_gateway_client.py.
 */

import { context, propagation, trace, type Attributes } from "@opentelemetry/api";

import { CircuitBreaker, CircuitOpenError, type StateChange } from "./circuit-breaker.js";

export { CircuitBreaker, CircuitOpenError } from "./circuit-breaker.js";
export type { BreakerState, StateChange, StateChangeListener } from "./circuit-breaker.js";

export const STATE_CHANGE_EVENT = "policy_gateway.circuit_breaker.state_change";
export const BYPASS_EVENT = "policy_gateway.bypass";
const TRACER_NAME = "llm-gateway-policy.client";

export type FailMode = "closed" | "open";

export interface PolicyGatewayConfig {
  readonly enablePolicyGateway: boolean;
  readonly policyGatewayUrl: string;
  readonly llmProviderUrl: string;
  readonly failMode: FailMode;
  readonly seaEnv?: string;
  /** Presented to the gateway. */
  readonly apiKey?: string;
  /** Presented to LiteLLM on the direct route (gateway off, or a bypass). */
  readonly providerApiKey?: string;
  readonly timeoutMs?: number;
  readonly failureThreshold?: number;
  readonly resetTimeoutS?: number;
}

export const DEFAULT_POLICY_GATEWAY_URL = "http://policy-gateway:8080/v1";
export const DEFAULT_LLM_PROVIDER_URL = "http://llm-provider:8001/v1";

// ---------------------------------------------------------------------------------------------
// Errors

export class PolicyGatewayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The configuration is unusable (for example fail mode `open` in production). */
export class PolicyGatewayConfigError extends PolicyGatewayError {}

/** The gateway cannot be used and fail mode `closed` forbids going around it. */
export class PolicyGatewayUnavailable extends PolicyGatewayError {
  readonly retryAfterS: number;
  readonly reason: string;

  constructor(reason: string, retryAfterS: number) {
    super(`policy gateway unavailable (${reason}); retry after ${retryAfterS.toFixed(1)} s`);
    this.reason = reason;
    this.retryAfterS = retryAfterS;
  }
}

/** A policy blocked the request or its answer. */
export class PolicyViolation extends PolicyGatewayError {
  readonly status: number;
  readonly policy: string;
  readonly policyVersion: string;
  readonly categories: readonly string[];
  readonly code: string;

  constructor(fields: {
    status: number;
    message: string;
    policy: string;
    policyVersion: string;
    categories: readonly string[];
    code: string;
  }) {
    super(fields.message);
    this.status = fields.status;
    this.policy = fields.policy;
    this.policyVersion = fields.policyVersion;
    this.categories = fields.categories;
    this.code = fields.code;
  }
}

/** Any other non-2xx answer (bad request, auth, rate limit, provider error passed through). */
export class UpstreamHttpError extends PolicyGatewayError {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly retryAfterS: number | null;

  constructor(status: number, message: string, type: string, code: string, retryAfterS: number | null) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
    this.type = type;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** The LiteLLM proxy could not be reached on the direct route (gateway off, or bypass). */
export class LlmProviderUnavailable extends PolicyGatewayError {}

// ---------------------------------------------------------------------------------------------
// Configuration

function parseBool(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === "") {
    return fallback;
  }
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) {
    return true;
  }
  if (["0", "false", "no", "off"].includes(value)) {
    return false;
  }
  throw new PolicyGatewayConfigError(`${name}=${raw} is not a boolean (use true or false)`);
}

function parseFailMode(raw: string | undefined): FailMode {
  const value = (raw ?? "").trim().toLowerCase() || "closed";
  if (value === "closed" || value === "open") {
    return value;
  }
  throw new PolicyGatewayConfigError(`POLICY_GATEWAY_FAIL_MODE=${raw} is not "closed" or "open"`);
}

/** Reads the dual-mode routing variables (the ones generated/<env>/.env.example documents). */
export function configFromEnv(env: Record<string, string | undefined> = process.env): PolicyGatewayConfig {
  const seaEnv = env["SEA_ENV"];
  const apiKey = env["LLM_POLICY_GATEWAY_API_KEY"];
  const providerApiKey = env["LLM_PROVIDER_API_KEY"];
  return {
    enablePolicyGateway: parseBool("LLM_ENABLE_POLICY_GATEWAY", env["LLM_ENABLE_POLICY_GATEWAY"], false),
    policyGatewayUrl: env["LLM_POLICY_GATEWAY_URL"] || DEFAULT_POLICY_GATEWAY_URL,
    llmProviderUrl: env["LLM_PROVIDER_URL"] || DEFAULT_LLM_PROVIDER_URL,
    failMode: parseFailMode(env["POLICY_GATEWAY_FAIL_MODE"]),
    ...(seaEnv ? { seaEnv } : {}),
    ...(apiKey ? { apiKey } : {}),
    ...(providerApiKey ? { providerApiKey } : {}),
  };
}

function validateConfig(config: PolicyGatewayConfig): void {
  if (config.failMode === "open" && config.seaEnv === "production") {
    throw new PolicyGatewayConfigError(
      "POLICY_GATEWAY_FAIL_MODE=open is not allowed with SEA_ENV=production: " +
        "production must fail closed (unset POLICY_GATEWAY_FAIL_MODE or set it to closed)",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Telemetry

function emitEvent(name: string, attributes: Attributes): void {
  const active = trace.getActiveSpan();
  if (active) {
    active.addEvent(name, attributes);
    return;
  }
  // No span to hang the event on: give it one of its own so the event is never lost.
  const span = trace.getTracer(TRACER_NAME).startSpan(name);
  span.addEvent(name, attributes);
  span.end();
}

function emitStateChange(change: StateChange): void {
  emitEvent(STATE_CHANGE_EVENT, {
    state: change.state,
    previous_state: change.previous,
    failure_count: change.failureCount,
    timestamp: change.timestamp,
    breaker: change.name,
  });
}

// ---------------------------------------------------------------------------------------------
// The port and its HTTP implementation

export type ChatCompletionRequest = Record<string, unknown> & { model: string; messages: unknown[] };
export type ChatCompletion = Record<string, unknown>;
export type ChatCompletionChunk = Record<string, unknown>;

export interface PolicyGatewayPort {
  chatCompletions(request: ChatCompletionRequest): Promise<ChatCompletion>;
  streamChatCompletions(request: ChatCompletionRequest): AsyncGenerator<ChatCompletionChunk, void, undefined>;
}

export interface ClientOptions {
  breaker?: CircuitBreaker;
  /** The one seam where I/O enters; tests keep the real fetch and point it at a local server. */
  fetch?: typeof fetch;
  /** Called for every bypass of the gateway (fail mode open), after the OpenTelemetry event. */
  onBypass?: (reason: string) => void;
}

export class HttpPolicyGatewayClient implements PolicyGatewayPort {
  readonly config: PolicyGatewayConfig;
  readonly breaker: CircuitBreaker;
  private readonly fetchImpl: typeof fetch;
  private readonly onBypass: ((reason: string) => void) | undefined;

  constructor(config: PolicyGatewayConfig, options: ClientOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.breaker =
      options.breaker ??
      new CircuitBreaker("policy-gateway-client", {
        failureThreshold: config.failureThreshold ?? 5,
        resetTimeoutS: config.resetTimeoutS ?? 30,
        listeners: [emitStateChange],
      });
    this.fetchImpl = options.fetch ?? fetch;
    this.onBypass = options.onBypass;
  }

  static fromEnv(env?: Record<string, string | undefined>, options?: ClientOptions): HttpPolicyGatewayClient {
    return new HttpPolicyGatewayClient(configFromEnv(env), options);
  }

  async chatCompletions(request: ChatCompletionRequest): Promise<ChatCompletion> {
    const response = await this.send({ ...request, stream: false });
    try {
      return (await response.json()) as ChatCompletion;
    } catch (error) {
      throw new PolicyGatewayError(`the answer was cut off or is not JSON (${describeFetchError(error)})`);
    }
  }

  async *streamChatCompletions(request: ChatCompletionRequest): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    const response = await this.send({ ...request, stream: true });
    if (response.body === null) {
      return;
    }
    yield* parseEventStream(response.body);
  }

  /** Picks the route, applies the breaker and fail mode, and returns a 2xx response. */
  private async send(body: Record<string, unknown>): Promise<Response> {
    if (!this.config.enablePolicyGateway) {
      return this.callDirect(body);
    }
    try {
      this.breaker.beforeCall();
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        return this.onGatewayUnavailable(body, "circuit_open", error.retryAfterS);
      }
      throw error;
    }
    let response: Response;
    try {
      response = await this.post(this.config.policyGatewayUrl, body, this.config.apiKey);
    } catch (error) {
      this.breaker.recordFailure();
      return this.onGatewayUnavailable(body, describeFetchError(error), this.breaker.retryAfterS());
    }
    if (response.status >= 500) {
      // 5xx means the gateway (or its upstream) is failing, including its own fail-closed 503.
      this.breaker.recordFailure();
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      await response.body?.cancel();
      return this.onGatewayUnavailable(
        body,
        `http_${response.status}`,
        Math.max(retryAfter ?? 0, this.breaker.retryAfterS()),
      );
    }
    // Any answer below 500 proves the gateway is healthy, even when it refuses the request.
    this.breaker.recordSuccess();
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    return response;
  }

  private async onGatewayUnavailable(
    body: Record<string, unknown>,
    reason: string,
    retryAfterS: number,
  ): Promise<Response> {
    if (this.config.failMode === "closed") {
      throw new PolicyGatewayUnavailable(reason, retryAfterS);
    }
    emitEvent(BYPASS_EVENT, { reason, fail_mode: this.config.failMode, timestamp: Date.now() / 1000 });
    this.onBypass?.(reason);
    return this.callDirect(body);
  }

  private async callDirect(body: Record<string, unknown>): Promise<Response> {
    let response: Response;
    try {
      response = await this.post(this.config.llmProviderUrl, body, this.config.providerApiKey);
    } catch (error) {
      throw new LlmProviderUnavailable(`LiteLLM proxy unreachable: ${describeFetchError(error)}`);
    }
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    return response;
  }

  private post(baseUrl: string, body: Record<string, unknown>, apiKey: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (body["stream"] === true) {
      headers["accept"] = "text/event-stream";
    }
    if (apiKey) {
      headers["authorization"] = `Bearer ${apiKey}`;
    }
    // W3C trace context, so the gateway's spans join the caller's trace.
    propagation.inject(context.active(), headers);
    return this.fetchImpl(`${baseUrl.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.config.timeoutMs ?? 60_000),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Response helpers

function describeFetchError(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return "timeout";
  }
  return "connect_error";
}

function parseRetryAfter(raw: string | null): number | null {
  if (raw === null) {
    return null;
  }
  const seconds = Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function asString(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : value === undefined || value === null ? fallback : String(value);
}

/**
 * Turns an OpenAI-style error object into a typed error. The gateway answers `{"error": {...}}`;
 * a LiteLLM proxy running the in-proxy guardrail wraps the same object as
 * `{"error": {..., "provider_specific_fields": {"error": {...}}}}`, so a block on either route
 * raises PolicyViolation.
 */
export function errorFromBody(status: number, payload: unknown, retryAfterS: number | null = null): PolicyGatewayError {
  const top = asRecord(payload) ?? {};
  let error = asRecord(top["error"]) ?? asRecord(top["detail"]) ?? top;
  const inner = asRecord(asRecord(error["provider_specific_fields"])?.["error"]);
  if (inner && inner["type"] === "policy_violation") {
    error = inner;
  }
  const type = asString(error["type"]);
  const message = asString(error["message"], `HTTP ${status}`);
  if (type === "policy_violation") {
    const categories = Array.isArray(error["categories"]) ? error["categories"].map((c) => asString(c)) : [];
    return new PolicyViolation({
      status,
      message,
      policy: asString(error["policy"]),
      policyVersion: asString(error["policy_version"]),
      categories,
      code: asString(error["code"]),
    });
  }
  return new UpstreamHttpError(status, message, type, asString(error["code"]), retryAfterS);
}

async function errorFromResponse(response: Response): Promise<PolicyGatewayError> {
  let text = await response.text();
  if (text.startsWith("data:")) {
    // A stream refused before its first chunk: LiteLLM sends the error as an event.
    text = text.split("\n", 1)[0]!.slice(5);
  }
  let payload: unknown = null;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = { error: { message: text.slice(0, 200) } };
  }
  return errorFromBody(response.status, payload, parseRetryAfter(response.headers.get("retry-after")));
}

/** Server-sent events from an OpenAI-compatible stream; `[DONE]` ends it, an error event throws. */
async function* parseEventStream(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<ChatCompletionChunk, void, undefined> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (error) {
        throw new PolicyGatewayError(`the stream was cut off (${describeFetchError(error)})`);
      }
      const { value, done } = next;
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line.startsWith("data:")) {
          data.push(line.slice(5).trimStart());
          continue;
        }
        if (line !== "" || data.length === 0) {
          continue;
        }
        const event = data.join("\n");
        data = [];
        if (event === "[DONE]") {
          return;
        }
        const chunk = JSON.parse(event) as ChatCompletionChunk;
        if (asRecord(chunk["error"])) {
          // A policy can block mid-stream (output policy) after the status line said 200.
          const blocked = errorFromBody(400, chunk);
          throw blocked instanceof PolicyViolation ? blocked : errorFromBody(502, chunk);
        }
        yield chunk;
      }
      if (done) {
        return;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
