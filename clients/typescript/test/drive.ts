/**
 * Runs a scenario with the real adapter and prints what happened as JSON, so the Python
 * integration suite (tests/integration/test_clients_typescript.py) can drive the TypeScript
 * client against the real gateway it starts. Usage: node dist/test/drive.js '<scenario json>'
 *
 * Scenario: {"config": PolicyGatewayConfig, "steps": [{"call": request, "stream"?: true} |
 *            {"sleep": seconds} | {"post": url, "json": body}]}
 */

import { trace } from "@opentelemetry/api";

import { HttpPolicyGatewayClient, PolicyGatewayError, type ChatCompletionRequest } from "../src/policy-gateway.adapter.js";
import { RecordingTracerProvider } from "./fakes.js";

type Step =
  | { call: ChatCompletionRequest; stream?: boolean }
  | { sleep: number }
  | { post: string; json: unknown };

interface Scenario {
  config: ConstructorParameters<typeof HttpPolicyGatewayClient>[0];
  steps: Step[];
}

function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof PolicyGatewayError)) {
    throw error;
  }
  const fields: Record<string, unknown> = { error: error.name, message: error.message };
  for (const key of ["status", "policy", "policyVersion", "categories", "code", "reason", "retryAfterS"]) {
    if (key in error) {
      fields[key] = (error as unknown as Record<string, unknown>)[key];
    }
  }
  return fields;
}

async function run(scenario: Scenario): Promise<Record<string, unknown>> {
  const tracing = new RecordingTracerProvider();
  trace.setGlobalTracerProvider(tracing);
  const bypasses: string[] = [];
  const client = new HttpPolicyGatewayClient(scenario.config, { onBypass: (reason) => bypasses.push(reason) });
  const results: Record<string, unknown>[] = [];
  for (const step of scenario.steps) {
    if ("sleep" in step) {
      await new Promise((resolve) => setTimeout(resolve, step.sleep * 1000));
      continue;
    }
    if ("post" in step) {
      const response = await fetch(step.post, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(step.json),
      });
      await response.arrayBuffer();
      continue;
    }
    let outcome: Record<string, unknown>;
    try {
      if (step.stream) {
        let content = "";
        for await (const chunk of client.streamChatCompletions(step.call)) {
          const choices = chunk["choices"] as { delta?: { content?: string } }[] | undefined;
          content += choices?.[0]?.delta?.content ?? "";
        }
        outcome = { ok: true, content };
      } else {
        const answer = await client.chatCompletions(step.call);
        const choices = answer["choices"] as { message: { content: string } }[];
        outcome = { ok: true, content: choices[0]?.message.content };
      }
    } catch (error) {
      outcome = { ok: false, ...describeError(error) };
    }
    results.push({ ...outcome, breaker: client.breaker.state });
  }
  return { results, bypasses, events: tracing.events };
}

const raw = process.argv[2];
if (raw === undefined) {
  console.error("usage: node dist/test/drive.js '<scenario json>'");
  process.exit(2);
}
process.stdout.write(JSON.stringify(await run(JSON.parse(raw) as Scenario)) + "\n");
