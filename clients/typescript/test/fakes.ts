/** Test doubles: a local HTTP server standing in for the gateway or LiteLLM, a recording tracer. */

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { Attributes, Span, SpanContext, Tracer, TracerProvider } from "@opentelemetry/api";

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  /** Server-sent events: each entry becomes one `data:` event. */
  events?: readonly string[];
}

export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

export class FakeServer {
  readonly received: Received[] = [];
  reply: (request: Received) => Reply = () => ({ status: 200, json: completion("ok") });
  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<FakeServer> {
    let fake: FakeServer | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const received: Received = {
          path: req.url ?? "",
          headers: req.headers,
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        };
        fake!.received.push(received);
        const reply = fake!.reply(received);
        if (reply.events) {
          res.writeHead(reply.status, { "content-type": "text/event-stream", ...reply.headers });
          for (const event of reply.events) {
            res.write(`data: ${event}\n\n`);
          }
          res.end();
          return;
        }
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        res.end(JSON.stringify(reply.json ?? {}));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeServer(server, `http://127.0.0.1:${port}/v1`);
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}

/** A base URL nothing listens on: a server is started and stopped to get a free port. */
export async function deadUrl(): Promise<string> {
  const fake = await FakeServer.start();
  await fake.stop();
  return fake.baseUrl;
}

export function completion(content: string): Record<string, unknown> {
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    model: "chat-default",
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content } }],
  };
}

export function violationBody(categories: string[]): Record<string, unknown> {
  return {
    error: {
      message: "the prompt policy blocked this request",
      type: "policy_violation",
      code: "prompt_policy_violation",
      policy: "prompt",
      policy_version: "1.0.0",
      categories,
    },
  };
}

export interface RecordedEvent {
  name: string;
  attributes: Attributes;
}

/** Implements just enough of the OpenTelemetry tracer API to see the events the adapter emits. */
export class RecordingTracerProvider implements TracerProvider {
  readonly events: RecordedEvent[] = [];

  getTracer(): Tracer {
    const events = this.events;
    const makeSpan = (): Span => {
      const span: Span = {
        spanContext: (): SpanContext => ({ traceId: "0".repeat(31) + "1", spanId: "0".repeat(15) + "1", traceFlags: 1 }),
        setAttribute: () => span,
        setAttributes: () => span,
        addEvent: (name: string, attributes?: unknown) => {
          events.push({ name, attributes: (attributes ?? {}) as Attributes });
          return span;
        },
        addLink: () => span,
        addLinks: () => span,
        setStatus: () => span,
        updateName: () => span,
        end: () => undefined,
        isRecording: () => true,
        recordException: () => undefined,
      };
      return span;
    };
    return {
      startSpan: makeSpan,
      startActiveSpan: ((_name: string, ...rest: unknown[]) => {
        const fn = rest[rest.length - 1] as (span: Span) => unknown;
        return fn(makeSpan());
      }) as Tracer["startActiveSpan"],
    };
  }
}
