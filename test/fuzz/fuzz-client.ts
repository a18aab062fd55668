import type { z } from "zod/mini";
import * as gen from "../../generated/zod/zod.gen.js";
import { checkAgainst, summarizeIssues } from "../../src/internal/validate.js";

/** What one fuzzed request got back, with every broken rule of the contract listed. */
export interface Checked {
  status: number;
  headers: Headers;
  text: string;
  /** Broken rules; empty when the answer keeps the contract. */
  problems: string[];
}

/** A raw request: the body is sent verbatim (string or bytes), with whatever headers are given. */
export interface RawRequest {
  method: string;
  path: string;
  body?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
}

/**
 * How a 2xx answer must look: a JSON schema, SSE events of a schema, bytes, or (`liveEvents`) a
 * stream that does not end by itself, of which the first event is read and checked.
 */
export type Expect = { json: z.ZodMiniType } | { sse: z.ZodMiniType } | { liveEvents: z.ZodMiniType } | { bytes: true } | { any: true };

/**
 * Sends requests and checks the rules that hold for every answer, whatever the input:
 * never a 5xx, always `x-request-id`, every error in the error schema with `request_id` equal to
 * that header, every 2xx in the operation's generated response schema. Counts what it sent.
 */
export class FuzzClient {
  sent = 0;

  constructor(
    readonly url: string,
    readonly key: string,
  ) {}

  async send(request: RawRequest, expect: Expect): Promise<Checked> {
    this.sent++;
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, ...request.headers };
    const response = await fetch(this.url + request.path, { method: request.method, headers, body: request.body });
    const live = "liveEvents" in expect && response.ok && (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
    const text = live ? await firstEvent(response) : await response.text();
    const problems = checkAnswer(response.status, response.headers, text, expect);
    return { status: response.status, headers: response.headers, text, problems };
  }

  /** JSON-encodes `body` (unless it is undefined) and sends it with `content-type: application/json`. */
  sendJson(method: string, path: string, body: unknown, expect: Expect): Promise<Checked> {
    if (body === undefined) return this.send({ method, path }, expect);
    return this.send({ method, path, body: JSON.stringify(body), headers: { "content-type": "application/json" } }, expect);
  }

  /** @throws when the server does not answer health with 200 in the health schema. */
  async healthy(): Promise<void> {
    const response = await fetch(`${this.url}/v1/health`);
    const body: unknown = await response.json();
    if (response.status !== 200 || !checkAgainst(gen.zHealth, body).ok) throw new Error(`health answered ${response.status}`);
  }
}

/** The rules every answer keeps; returns the broken ones. */
function checkAnswer(status: number, headers: Headers, text: string, expect: Expect): string[] {
  const problems: string[] = [];
  const requestId = headers.get("x-request-id");
  if (!requestId) problems.push("no x-request-id header");
  if (status >= 500) problems.push(`status ${status}`);
  if (status >= 400) {
    problems.push(...checkError(text, requestId));
    return problems;
  }
  if (status < 200 || status >= 300) {
    problems.push(`unexpected status ${status}`);
    return problems;
  }
  const type = headers.get("content-type") ?? "";
  if ("json" in expect) {
    if (!type.startsWith("application/json")) problems.push(`content-type ${type}`);
    problems.push(...checkJson(expect.json, text));
  } else if ("sse" in expect) {
    if (type.startsWith("text/event-stream")) problems.push(...checkEvents(expect.sse, text, requestId));
    else if (!type.startsWith("application/json")) problems.push(`content-type ${type}`);
  } else if ("liveEvents" in expect) {
    if (!type.startsWith("text/event-stream")) problems.push(`content-type ${type}`);
    const data = /(?:^|\n)data: (.*)\n\n/.exec(text)?.[1];
    if (data === undefined) problems.push(`no event: ${text.slice(0, 200)}`);
    else problems.push(...checkJson(expect.liveEvents, data));
  } else if ("bytes" in expect) {
    if (type !== "application/octet-stream") problems.push(`content-type ${type}`);
    if (text.length === 0) problems.push("empty download");
  }
  return problems;
}

function checkJson(schema: z.ZodMiniType, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [`body is not JSON: ${text.slice(0, 200)}`];
  }
  const result = checkAgainst(schema, value);
  return result.ok ? [] : [`body breaks the schema: ${summarizeIssues(result.issues)}: ${text.slice(0, 300)}`];
}

function checkError(text: string, requestId: string | null): string[] {
  const problems = checkJson(gen.zError, text);
  if (problems.length > 0) return problems;
  const body = JSON.parse(text) as z.output<typeof gen.zError>;
  return body.error.request_id === requestId ? [] : [`request_id ${body.error.request_id} is not the header's ${String(requestId)}`];
}

/** Every `data:` event in `schema` (or `[DONE]` last), every `event: error` in the error schema. */
function checkEvents(schema: z.ZodMiniType, text: string, requestId: string | null): string[] {
  const problems: string[] = [];
  const events = text.split("\n\n").filter((e) => e.trim() !== "");
  let done = false;
  for (const event of events) {
    const lines = event.split("\n");
    const name = lines.find((l) => l.startsWith("event: "))?.slice(7);
    const data = lines
      .filter((l) => l.startsWith("data: "))
      .map((l) => l.slice(6))
      .join("\n");
    if (done) problems.push("event after [DONE]");
    if (name === "error") problems.push(...checkError(data, requestId));
    else if (data === "[DONE]") done = true;
    else problems.push(...checkJson(schema, data));
  }
  if (!done && !events.some((e) => e.startsWith("event: error"))) problems.push("stream ended without [DONE] or an error event");
  return problems;
}

/** The body of an event stream up to its first `data:` event, then the stream is cancelled. */
async function firstEvent(response: Response): Promise<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!/(?:^|\n)data: .*\n\n/.test(text)) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}
