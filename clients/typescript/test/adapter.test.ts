import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";

import { trace } from "@opentelemetry/api";

import {
  BYPASS_EVENT,
  CircuitBreaker,
  HttpPolicyGatewayClient,
  LlmProviderUnavailable,
  PolicyGatewayConfigError,
  PolicyGatewayError,
  PolicyGatewayUnavailable,
  PolicyViolation,
  STATE_CHANGE_EVENT,
  UpstreamHttpError,
  configFromEnv,
  type ChatCompletionRequest,
  type PolicyGatewayConfig,
} from "../src/policy-gateway.adapter.js";
import { FakeServer, RecordingTracerProvider, completion, deadUrl, violationBody } from "./fakes.js";

const REQUEST: ChatCompletionRequest = { model: "chat-default", messages: [{ role: "user", content: "hi" }] };

const tracing = new RecordingTracerProvider();
trace.setGlobalTracerProvider(tracing);

let gateway: FakeServer;
let litellm: FakeServer;

before(async () => {
  gateway = await FakeServer.start();
  litellm = await FakeServer.start();
});

after(async () => {
  await gateway.stop();
  await litellm.stop();
});

beforeEach(() => {
  gateway.received.length = 0;
  litellm.received.length = 0;
  gateway.reply = () => ({ status: 200, json: completion("from gateway") });
  litellm.reply = () => ({ status: 200, json: completion("from litellm") });
  tracing.events.length = 0;
});

function config(overrides: Partial<PolicyGatewayConfig> = {}): PolicyGatewayConfig {
  return {
    enablePolicyGateway: true,
    policyGatewayUrl: gateway.baseUrl,
    llmProviderUrl: litellm.baseUrl,
    failMode: "closed",
    ...overrides,
  };
}

function content(answer: Record<string, unknown>): unknown {
  const choices = answer["choices"] as { message: { content: string } }[];
  return choices[0]?.message.content;
}

describe("configuration", () => {
  it("reads the dual-mode routing variables with their documented defaults", () => {
    assert.deepEqual(configFromEnv({}), {
      enablePolicyGateway: false,
      policyGatewayUrl: "http://policy-gateway:8080/v1",
      llmProviderUrl: "http://llm-provider:8001/v1",
      failMode: "closed",
    });
    const env = {
      LLM_ENABLE_POLICY_GATEWAY: "true",
      LLM_POLICY_GATEWAY_URL: "http://gw:9/v1",
      LLM_PROVIDER_URL: "http://llm:1/v1",
      POLICY_GATEWAY_FAIL_MODE: "open",
      SEA_ENV: "staging",
      LLM_POLICY_GATEWAY_API_KEY: "sk-gw",
      LLM_PROVIDER_API_KEY: "sk-llm",
    };
    assert.deepEqual(configFromEnv(env), {
      enablePolicyGateway: true,
      policyGatewayUrl: "http://gw:9/v1",
      llmProviderUrl: "http://llm:1/v1",
      failMode: "open",
      seaEnv: "staging",
      apiKey: "sk-gw",
      providerApiKey: "sk-llm",
    });
  });

  it("rejects values that are neither true/false nor closed/open", () => {
    assert.throws(() => configFromEnv({ LLM_ENABLE_POLICY_GATEWAY: "maybe" }), PolicyGatewayConfigError);
    assert.throws(() => configFromEnv({ POLICY_GATEWAY_FAIL_MODE: "bypass" }), PolicyGatewayConfigError);
  });

  it("refuses fail mode open in production at construction", () => {
    assert.throws(
      () => new HttpPolicyGatewayClient(config({ failMode: "open", seaEnv: "production" })),
      /not allowed with SEA_ENV=production/,
    );
    assert.doesNotThrow(() => new HttpPolicyGatewayClient(config({ seaEnv: "production" })));
  });
});

describe("routing", () => {
  it("sends every call through the gateway when it is enabled", async () => {
    const client = new HttpPolicyGatewayClient(config());
    const answer = await client.chatCompletions(REQUEST);
    assert.equal(content(answer), "from gateway");
    assert.equal(gateway.received.length, 1);
    assert.equal(gateway.received[0]?.path, "/v1/chat/completions");
    assert.deepEqual(gateway.received[0]?.body, { ...REQUEST, stream: false });
    assert.equal(litellm.received.length, 0);
  });

  it("goes straight to LiteLLM when the gateway is switched off", async () => {
    const client = new HttpPolicyGatewayClient(config({ enablePolicyGateway: false }));
    assert.equal(content(await client.chatCompletions(REQUEST)), "from litellm");
    assert.equal(gateway.received.length, 0);
    assert.equal(litellm.received.length, 1);
  });

  it("presents the provider key, not the gateway key, on the direct route", async () => {
    const client = new HttpPolicyGatewayClient(
      config({ enablePolicyGateway: false, apiKey: "sk-gw", providerApiKey: "sk-llm" }),
    );
    await client.chatCompletions(REQUEST);
    assert.equal(litellm.received[0]?.headers["authorization"], "Bearer sk-llm");
  });

  it("sends the API key as a bearer token", async () => {
    const client = new HttpPolicyGatewayClient(config({ apiKey: "sk-test" }));
    await client.chatCompletions(REQUEST);
    assert.equal(gateway.received[0]?.headers["authorization"], "Bearer sk-test");
  });
});

describe("errors", () => {
  it("a policy block surfaces as PolicyViolation with categories and version", async () => {
    gateway.reply = () => ({ status: 400, json: violationBody(["pii", "jailbreak"]) });
    const client = new HttpPolicyGatewayClient(config());
    await assert.rejects(client.chatCompletions(REQUEST), (error: unknown) => {
      assert.ok(error instanceof PolicyViolation);
      assert.equal(error.status, 400);
      assert.equal(error.policy, "prompt");
      assert.equal(error.policyVersion, "1.0.0");
      assert.deepEqual(error.categories, ["pii", "jailbreak"]);
      assert.equal(error.code, "prompt_policy_violation");
      return true;
    });
    assert.equal(client.breaker.state, "closed");
    assert.equal(client.breaker.failureCount, 0);
  });

  it("other 4xx answers are typed HTTP errors and do not count against the gateway", async () => {
    gateway.reply = () => ({
      status: 429,
      headers: { "retry-after": "7" },
      json: { error: { message: "slow down", type: "rate_limit_error", code: "rate_limited" } },
    });
    const client = new HttpPolicyGatewayClient(config());
    for (let i = 0; i < 6; i += 1) {
      await assert.rejects(
        client.chatCompletions(REQUEST),
        (error: unknown) => error instanceof UpstreamHttpError && error.status === 429 && error.retryAfterS === 7,
      );
    }
    assert.equal(client.breaker.state, "closed");
  });

  it("a LiteLLM guardrail block on the direct route is a PolicyViolation too", async () => {
    // What LiteLLM 1.106 answers for the guardrail's HTTPException(400, detail={"error": {...}}).
    litellm.reply = () => ({
      status: 400,
      json: {
        error: {
          message: "blocked",
          type: "invalid_request_error",
          param: null,
          code: "400",
          provider_specific_fields: { error: violationBody(["pii"])["error"], guardrail_name: "policy-prompt" },
        },
      },
    });
    const client = new HttpPolicyGatewayClient(config({ enablePolicyGateway: false }));
    await assert.rejects(
      client.chatCompletions(REQUEST),
      (error: unknown) => error instanceof PolicyViolation && error.categories[0] === "pii",
    );
  });

  it("LiteLLM down on the direct route is LlmProviderUnavailable", async () => {
    const client = new HttpPolicyGatewayClient(config({ enablePolicyGateway: false, llmProviderUrl: await deadUrl() }));
    await assert.rejects(client.chatCompletions(REQUEST), LlmProviderUnavailable);
  });
});

describe("fail mode closed", () => {
  it("gateway down raises PolicyGatewayUnavailable and never calls the model directly", async () => {
    const client = new HttpPolicyGatewayClient(config({ policyGatewayUrl: await deadUrl() }));
    await assert.rejects(
      client.chatCompletions(REQUEST),
      (error: unknown) => error instanceof PolicyGatewayUnavailable && error.reason === "connect_error",
    );
    assert.equal(litellm.received.length, 0);
  });

  it("a 503 from the gateway counts as a failure and carries its Retry-After", async () => {
    gateway.reply = () => ({ status: 503, headers: { "retry-after": "12" }, json: { error: { message: "open" } } });
    const client = new HttpPolicyGatewayClient(config());
    await assert.rejects(
      client.chatCompletions(REQUEST),
      (error: unknown) => error instanceof PolicyGatewayUnavailable && error.retryAfterS === 12,
    );
    assert.equal(client.breaker.failureCount, 1);
  });

  it("five failures open the breaker, which then refuses without calling anyone", async () => {
    gateway.reply = () => ({ status: 502, json: { error: { message: "bad gateway" } } });
    let now = 0;
    const breaker = new CircuitBreaker("client", { clock: () => now });
    const client = new HttpPolicyGatewayClient(config(), { breaker });
    for (let i = 0; i < 5; i += 1) {
      await assert.rejects(client.chatCompletions(REQUEST), PolicyGatewayUnavailable);
    }
    assert.equal(breaker.state, "open");
    await assert.rejects(
      client.chatCompletions(REQUEST),
      (error: unknown) => error instanceof PolicyGatewayUnavailable && error.reason === "circuit_open" && error.retryAfterS === 30,
    );
    assert.equal(gateway.received.length, 5);
    assert.equal(litellm.received.length, 0);

    // Recovery: after 30 s one probe goes through, and its success closes the breaker.
    gateway.reply = () => ({ status: 200, json: completion("back") });
    now += 30;
    assert.equal(content(await client.chatCompletions(REQUEST)), "back");
    assert.equal(breaker.state, "closed");
  });

  it("every breaker transition emits the state-change event with state, failure_count, timestamp", async () => {
    gateway.reply = () => ({ status: 500, json: {} });
    const client = new HttpPolicyGatewayClient(config());
    for (let i = 0; i < 5; i += 1) {
      await assert.rejects(client.chatCompletions(REQUEST), PolicyGatewayUnavailable);
    }
    const events = tracing.events.filter((e) => e.name === STATE_CHANGE_EVENT);
    assert.equal(events.length, 1);
    const attributes = events[0]!.attributes;
    assert.equal(attributes["state"], "open");
    assert.equal(attributes["previous_state"], "closed");
    assert.equal(attributes["failure_count"], 5);
    assert.equal(typeof attributes["timestamp"], "number");
    assert.ok(Math.abs((attributes["timestamp"] as number) - Date.now() / 1000) < 60);
  });
});

describe("fail mode open", () => {
  it("gateway down calls LiteLLM directly and emits a bypass event", async () => {
    const reasons: string[] = [];
    const client = new HttpPolicyGatewayClient(config({ failMode: "open", policyGatewayUrl: await deadUrl() }), {
      onBypass: (reason) => reasons.push(reason),
    });
    assert.equal(content(await client.chatCompletions(REQUEST)), "from litellm");
    assert.deepEqual(reasons, ["connect_error"]);
    const bypass = tracing.events.filter((e) => e.name === BYPASS_EVENT);
    assert.equal(bypass.length, 1);
    assert.equal(bypass[0]!.attributes["reason"], "connect_error");
    assert.equal(bypass[0]!.attributes["fail_mode"], "open");
  });

  it("an open breaker bypasses without trying the gateway", async () => {
    gateway.reply = () => ({ status: 503, json: {} });
    const client = new HttpPolicyGatewayClient(config({ failMode: "open" }), {
      breaker: new CircuitBreaker("client", { clock: () => 0 }),
    });
    for (let i = 0; i < 6; i += 1) {
      assert.equal(content(await client.chatCompletions(REQUEST)), "from litellm");
    }
    assert.equal(gateway.received.length, 5);
    assert.equal(litellm.received.length, 6);
  });

  it("a policy block is never bypassed, even in fail mode open", async () => {
    gateway.reply = () => ({ status: 400, json: violationBody(["jailbreak"]) });
    const client = new HttpPolicyGatewayClient(config({ failMode: "open" }));
    await assert.rejects(client.chatCompletions(REQUEST), PolicyViolation);
    assert.equal(litellm.received.length, 0);
  });
});

describe("streaming", () => {
  const chunk = (text: string): string =>
    JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: text } }] });

  it("yields the chunks of an OpenAI-style event stream until [DONE]", async () => {
    gateway.reply = () => ({ status: 200, events: [chunk("Hel"), chunk("lo"), "[DONE]"] });
    const client = new HttpPolicyGatewayClient(config());
    const texts: unknown[] = [];
    for await (const part of client.streamChatCompletions(REQUEST)) {
      texts.push((part["choices"] as { delta: { content: string } }[])[0]?.delta.content);
    }
    assert.deepEqual(texts, ["Hel", "lo"]);
    assert.equal(gateway.received[0]?.body["stream"], true);
  });

  it("an error event in the stream surfaces as PolicyViolation", async () => {
    gateway.reply = () => ({
      status: 200,
      events: [chunk("My SSN is"), JSON.stringify(violationBody(["pii"])), "[DONE]"],
    });
    const client = new HttpPolicyGatewayClient(config());
    const seen: unknown[] = [];
    await assert.rejects(async () => {
      for await (const part of client.streamChatCompletions(REQUEST)) {
        seen.push(part);
      }
    }, PolicyViolation);
    assert.equal(seen.length, 1);
  });

  it("a stream refused with an event body (LiteLLM's guardrail) is a PolicyViolation", async () => {
    const wrapped = {
      error: {
        message: "blocked",
        type: "invalid_request_error",
        code: "400",
        provider_specific_fields: { error: violationBody(["pii"])["error"] },
      },
    };
    litellm.reply = () => ({ status: 400, events: [JSON.stringify(wrapped), "[DONE]"] });
    const client = new HttpPolicyGatewayClient(config({ enablePolicyGateway: false }));
    await assert.rejects(async () => {
      for await (const _ of client.streamChatCompletions(REQUEST)) {
        assert.fail("no chunk expected");
      }
    }, (error: unknown) => error instanceof PolicyViolation && error.categories[0] === "pii");
  });

  it("a stream cut off midway is a typed error", async () => {
    let pulls = 0;
    const cutOff = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls += 1;
        if (pulls === 1) {
          controller.enqueue(new TextEncoder().encode(`data: ${chunk("Hel")}\n\n`));
        } else {
          controller.error(new TypeError("terminated"));
        }
      },
    });
    const client = new HttpPolicyGatewayClient(config(), {
      fetch: async () => new Response(cutOff, { status: 200, headers: { "content-type": "text/event-stream" } }),
    });
    const seen: unknown[] = [];
    await assert.rejects(async () => {
      for await (const part of client.streamChatCompletions(REQUEST)) {
        seen.push(part);
      }
    }, (error: unknown) => error instanceof PolicyGatewayError && /cut off/.test(error.message));
    assert.equal(seen.length, 1);
  });

  it("a stream refused by a closed breaker raises before any chunk", async () => {
    const client = new HttpPolicyGatewayClient(config({ policyGatewayUrl: await deadUrl() }));
    await assert.rejects(async () => {
      for await (const _ of client.streamChatCompletions(REQUEST)) {
        assert.fail("no chunk expected");
      }
    }, PolicyGatewayUnavailable);
  });
});
