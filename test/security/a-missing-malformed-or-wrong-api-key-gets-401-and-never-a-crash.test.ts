import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { call, conform, createTinyRun, useTestServer } from "../server/helpers.js";
import { type RawAnswer, rawRequest } from "./raw-http.js";

let runId: string;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

/** A raw answer that is an error in the error schema, with `request_id` equal to `x-request-id`. */
function expectRawError(answer: RawAnswer, status: number, code?: string): void {
  expect(answer.status, answer.body).toBe(status);
  const requestId = answer.headers["x-request-id"];
  expect(requestId).toMatch(/^req_/);
  const { error } = conform(gen.zError, JSON.parse(answer.body));
  expect(error.request_id).toBe(requestId);
  if (code !== undefined) expect(error.code).toBe(code);
}

async function expectHealthy(): Promise<void> {
  expect((await call(fixture.server, "GET", "/v1/health")).status).toBe(200);
  expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).status).toBe(200);
}

describe("a request without a valid API key", () => {
  it("gets 401 invalid_api_key in the error schema for every malformed Authorization value", async () => {
    const values: (string | undefined)[] = [
      undefined,
      "",
      "Bearer",
      "Bearer  ",
      "Bearer sk-test-c",
      "Basic sk-test-a",
      "Basic c2stdGVzdC1hOg==",
      "Token sk-test-a",
      "sk-test-a",
      "Bearer sk-test-a sk-test-b",
      "Bearer sk-test-ab",
      "Bearer sk-test-",
      "Bearer SK-TEST-A",
      "bearer sk-test-c",
      "Bearer sk-test-a,Bearer sk-test-b",
      `Bearer ${"k".repeat(8 * 1024)}`,
    ];
    for (const value of values) {
      const headers: Record<string, string> = value === undefined ? {} : { authorization: value };
      const reply = await call(fixture.server, "GET", `/v1/runs/${runId}`, { key: null, headers });
      expect(reply.status, String(value).slice(0, 40)).toBe(401);
      const { error } = conform(gen.zError, reply.body);
      expect(error).toMatchObject({ type: "authentication_error", code: "invalid_api_key", request_id: reply.headers.get("x-request-id") });
      expect(JSON.stringify(reply.body)).not.toContain("sk-test");
    }
    await expectHealthy();
  });

  it("accepts the scheme in any case and several spaces before the key, as RFC 7235 and 6750 allow", async () => {
    for (const value of ["bearer sk-test-a", "BEARER sk-test-a", "Bearer  sk-test-a"]) {
      const reply = await call(fixture.server, "GET", `/v1/runs/${runId}`, { key: null, headers: { authorization: value } });
      expect(reply.status, value).toBe(200);
    }
  });

  it("is refused before anything else is looked at: no 404 or 422 that would reveal ids or shapes", async () => {
    const attempts = [
      call(fixture.server, "GET", "/v1/runs/run_0000000000000000", { key: "sk-test-c" }),
      call(fixture.server, "GET", "/v1/runs/not-an-id", { key: null }),
      call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { key: "sk-test-c", body: "{not json" }),
      call(fixture.server, "POST", "/v1/completions", { key: null, body: { model: runId, prompt: "a" } }),
      call(fixture.server, "GET", "/v1/runs?limit=0", { key: null }),
    ];
    for (const reply of await Promise.all(attempts)) {
      expect(reply.status).toBe(401);
      conform(gen.zError, reply.body);
    }
  });

  it("with CR, LF or NUL in the Authorization value gets a 4xx in the error schema or a closed connection, never a crash", async () => {
    const heads = [
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-c\rX-Injected: 1\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-c\nX-Injected: 1\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-a\u0000\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-c\r\n sk-test-a\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-c\r\nAuthorization: Bearer sk-test-a\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-c\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ];
    for (const head of heads) {
      const answer = await rawRequest(fixture.server.url, head);
      const shown = JSON.stringify(head);
      if (answer.status === undefined) {
        expect(answer.closed, shown).toBe(true);
        continue;
      }
      expect(answer.status, shown).toBeGreaterThanOrEqual(400);
      expect(answer.status, shown).toBeLessThan(500);
      expectRawError(answer, answer.status);
    }
    await expectHealthy();
  });

  it("with a key too long for the header limit gets 431 in the error schema, and the server keeps serving", async () => {
    const answer = await rawRequest(fixture.server.url, `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${"k".repeat(64 * 1024)}\r\n\r\n`);
    expectRawError(answer, 431, "header_too_large");
    expect(answer.closed).toBe(true);
    await expectHealthy();
  });

  it("that is not HTTP at all gets 400 in the error schema and a closed connection", async () => {
    for (const head of [
      "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003",
      "GET\r\n\r\n",
      "BREW /v1/models HTTP/1.1\r\n\r\n",
      "GET /v1/models HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    ]) {
      const answer = await rawRequest(fixture.server.url, Buffer.from(head, "latin1"));
      expect(answer.closed, JSON.stringify(head)).toBe(true);
      if (answer.status !== undefined) expectRawError(answer, 400, "malformed_request");
    }
    await expectHealthy();
  });
});

describe("the key comparison", () => {
  it("hashes the presented key and compares digests with timingSafeEqual, without an early exit", async () => {
    const source = await readFile(new URL("../../src/server/http/auth.ts", import.meta.url), "utf8");
    expect(source).toMatch(/import \{[^}]*timingSafeEqual[^}]*\} from "node:crypto"/);
    expect(source).toMatch(/timingSafeEqual\(digests\[i\]!, presented\)/);
    // No plain comparison of key material and no `break`/`return` inside the comparison loop.
    expect(source).not.toMatch(/(===|!==|==)\s*(key|presented|digest)/);
    const loop = /for \(let i = 0; i < digests\.length; i\+\+\) \{([^}]*)\}/.exec(source)?.[1] ?? "";
    expect(loop).toContain("timingSafeEqual");
    expect(loop).not.toMatch(/\b(break|return)\b/);
  });
});
