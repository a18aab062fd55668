import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type * as z from "zod/mini";
import { OPERATIONS } from "../../generated/operations.js";
import { APIConnectionError, SignalClient } from "../../src/index.js";
import { checkAgainst, isPlainlyValid } from "../../src/internal/validate.js";
import { invalidArbitrary, validArbitrary } from "../helpers/schema-arbitrary.js";
import { BASE, KEY, RUN_ID, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

// The request hot path builds headers as a plain object (not a `Headers`) and takes a cheap
// "plainly valid" answer for path and query parameters before the full check. These tests pin
// that it sends and refuses exactly what the `Headers` object and the full check did.

const client = (fetch: (request: Request) => Promise<Response>, options: Record<string, unknown> = {}) =>
  new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 2, backoff: { initialDelay: 0, maxDelay: 0 }, ...options });

describe("headers on the fast path", () => {
  it("defaultHeaders override the SDK's case-insensitively, null removes one, per-call headers win, Authorization stays the key's", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    const c = client(fetch, {
      defaultHeaders: { "user-agent": "mine/1", "X-SIGNAL-CLIENT": null, "X-Team": "a", Authorization: "Bearer stolen" },
    });
    await c.getRun(RUN_ID, { headers: { "x-team": "b", "X-Call": "1", authorization: "Bearer other" } });
    const headers = seen[0]!.headers;
    expect(headers.get("user-agent")).toBe("mine/1");
    expect(headers.has("x-signal-client")).toBe(false);
    expect(headers.get("x-team")).toBe("b");
    expect(headers.get("x-call")).toBe("1");
    expect(headers.get("authorization")).toBe(`Bearer ${KEY}`);
  });

  it("a header value Headers refuses rejects the call with its TypeError, nothing sent and nothing retried", async () => {
    const cases: Array<[string, (fetch: (request: Request) => Promise<Response>) => Promise<unknown>]> = [
      ["a per-call header with a line break", (f) => client(f).getRun(RUN_ID, { headers: { "x-note": "a\nb" } })],
      ["a per-call header past U+00FF", (f) => client(f).getRun(RUN_ID, { headers: { "x-note": "\u2028" } })],
      ["a per-call header name that is not a token", (f) => client(f).getRun(RUN_ID, { headers: { "x note": "1" } })],
      ["a default header with a NUL", (f) => client(f, { defaultHeaders: { "x-note": "a\u0000b" } }).getRun(RUN_ID)],
      ["an API key with a line break", (f) => client(f, { apiKey: "sk-a\nb" }).getRun(RUN_ID)],
      ["an Idempotency-Key with a line break", (f) => client(f).createRun({ base_model: "signal-byte-tiny" }, { idempotencyKey: "k\r\nx" })],
    ];
    for (const [name, call] of cases) {
      const { fetch, seen } = scriptedFetch([json(200, run)]);
      const error = await call(fetch).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(TypeError);
      expect(error, name).not.toBeInstanceOf(APIConnectionError);
      expect(seen, name).toHaveLength(0);
    }
  });

  it("a value Headers trims (surrounding whitespace, a trailing line break) is sent trimmed, as before", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    await client(fetch).getRun(RUN_ID, { headers: { "x-note": "  padded\n" } });
    expect(seen[0]!.headers.get("x-note")).toBe("padded");
  });
});

describe("the plainly-valid shortcut of parameter checks", () => {
  const schemas = Object.values(OPERATIONS).flatMap((op) =>
    [op.params, op.query].filter((s): s is NonNullable<typeof s> => s !== undefined).map((s) => [op.operationId, s as z.ZodMiniType] as const),
  );

  it("is taken for a run id, and left to the full check for anything else", () => {
    const getRun = OPERATIONS.getRun.params as z.ZodMiniType;
    expect(isPlainlyValid(getRun, { run_id: RUN_ID })).toBe(true);
    for (const other of [{ run_id: "run_X" }, { run_id: 7 }, {}, { run_id: RUN_ID, extra: 1 }, { run_id: RUN_ID, extra: undefined }, null, [RUN_ID]]) {
      expect(isPlainlyValid(getRun, other), JSON.stringify(other)).toBe(false);
    }
  });

  it("agrees with the full check on generated valid and invalid parameters of every operation", () => {
    let plain = 0;
    for (const [operationId, schema] of schemas) {
      for (const arbitrary of [validArbitrary(schema), invalidArbitrary(schema)]) {
        fc.assert(
          fc.property(arbitrary, (value) => {
            if (!isPlainlyValid(schema, value)) return true;
            plain++;
            const full = checkAgainst(schema, value);
            if (!full.ok) throw new Error(`${operationId}: plainly valid but refused: ${JSON.stringify(value)} ${JSON.stringify(full.issues)}`);
            return true;
          }),
          { numRuns: 60, seed: 21 },
        );
      }
    }
    expect(plain).toBeGreaterThan(0);
  });
});
