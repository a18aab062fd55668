import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { call, conform, createTinyRun, useTestServer } from "../server/helpers.js";
import { type RawAnswer, rawRequest } from "./raw-http.js";

const LIMIT = 64 * 1024;
/** What a client tries to send: far more than the limit, and more than socket buffers can hide. */
const HUGE = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

let runId: string;
const fixture = useTestServer({ bodyLimitBytes: LIMIT });
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

function* chunks(total: number): Generator<Buffer> {
  for (let sent = 0; sent < total; sent += CHUNK.length) yield CHUNK;
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

/** An error in the error schema, the connection closed, and most of the body never read. */
function expectRefused(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status, answer.body.slice(0, 300)).toBe(status);
  const { error } = conform(gen.zError, JSON.parse(answer.body));
  expect(error.code).toBe(code);
  expect(error.request_id).toBe(answer.headers["x-request-id"]);
  expect(answer.closed).toBe(true);
  // Socket buffers on both sides absorb a few MB at most; reading on would take all of it.
  expect(answer.written).toBeLessThan(HUGE / 4);
}

const auth = { authorization: "Bearer sk-test-a" };

describe("an oversize body", () => {
  it("declared in Content-Length gets 413 before it is read, and the connection is closed", async () => {
    const answer = await rawRequest(
      fixture.server.url,
      head("POST", `/v1/runs/${runId}/forward_backward`, { ...auth, "content-type": "application/json", "content-length": HUGE }),
      {
        stream: chunks(HUGE),
        waitMs: 10_000,
      },
    );
    expectRefused(answer, 413, "payload_too_large");
  });

  it("sent chunked gets 413 once it crosses the limit, and the server stops reading", async () => {
    const framed = (function* () {
      for (const chunk of chunks(HUGE)) yield Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    })();
    const answer = await rawRequest(
      fixture.server.url,
      head("POST", `/v1/runs/${runId}/sample`, { ...auth, "content-type": "application/json", "transfer-encoding": "chunked" }),
      {
        stream: framed,
        waitMs: 10_000,
      },
    );
    expectRefused(answer, 413, "payload_too_large");
  });

  it("sent without a valid key gets 401, and the server does not read the rest of it either", async () => {
    const answer = await rawRequest(
      fixture.server.url,
      head("POST", `/v1/runs/${runId}/forward_backward`, { authorization: "Bearer sk-wrong", "content-length": HUGE }),
      {
        stream: chunks(HUGE),
        waitMs: 10_000,
      },
    );
    expectRefused(answer, 401, "invalid_api_key");
  });

  it("sent to a route that does not exist gets 404, and the server does not read the rest of it either", async () => {
    const answer = await rawRequest(fixture.server.url, head("POST", "/v1/nowhere", { ...auth, "content-length": HUGE }), {
      stream: chunks(HUGE),
      waitMs: 10_000,
    });
    expectRefused(answer, 404, "route_not_found");
  });

  it("is measured exactly: the limit itself is read, one byte more is refused", async () => {
    const padded = (size: number) => {
      const prefix = '{"prompts":["a"],"max_tokens":1,"stop":["';
      return `${prefix}${"s".repeat(size - prefix.length - 3)}"]}`;
    };
    const atLimit = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: padded(LIMIT) });
    expect(atLimit.status).toBe(422); // read and validated: the stop string is too long
    const over = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: padded(LIMIT + 1) });
    expect(over.status).toBe(413);
    expect(conform(gen.zError, over.body).error.request_id).toBe(over.headers.get("x-request-id"));
  });

  it("leaves the server healthy and serving", async () => {
    expect((await call(fixture.server, "GET", "/v1/health")).status).toBe(200);
    expect((await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["ok"], max_tokens: 2 } })).status).toBe(200);
  });
});
