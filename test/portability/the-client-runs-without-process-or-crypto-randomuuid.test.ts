import { afterEach, describe, expect, it, vi } from "vitest";
import { readEnv } from "../../src/internal/env.js";
import { randomUUID } from "../../src/internal/random-id.js";
import { SignalClient, SignalError } from "../../src/index.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("a runtime without process (a browser, an edge worker)", () => {
  it("constructs a client given apiKey and baseUrl", () => {
    vi.stubGlobal("process", undefined);
    const client = new SignalClient({ apiKey: "sk-test-0000", baseUrl: "http://127.0.0.1:9" });
    vi.unstubAllGlobals();
    expect(client).toBeInstanceOf(SignalClient);
  });

  it("reports a missing key as a SignalError, not a ReferenceError", () => {
    vi.stubGlobal("process", undefined);
    let thrown: unknown;
    try {
      new SignalClient({ baseUrl: "http://127.0.0.1:9" });
    } catch (error) {
      thrown = error;
    }
    vi.unstubAllGlobals();
    expect(thrown).toBeInstanceOf(SignalError);
    expect(String(thrown)).toContain("SIGNAL_API_KEY");
  });
});

describe("an environment whose reads are refused (Deno without --allow-env)", () => {
  it("counts every variable as unset instead of throwing", () => {
    const denied = {
      get env(): never {
        throw new Error("Requires env access to all, run again with the --allow-env flag");
      },
    };
    vi.stubGlobal("process", denied);
    const value = readEnv("SIGNAL_API_KEY");
    const client = new SignalClient({ apiKey: "sk-test-0000", baseUrl: "http://127.0.0.1:9" });
    vi.unstubAllGlobals();
    expect(value).toBeUndefined();
    expect(client).toBeInstanceOf(SignalClient);
  });
});

describe("idempotency keys without crypto.randomUUID (a page served over plain http from a LAN address)", () => {
  it("are version 4 UUIDs from crypto.getRandomValues, all different", () => {
    const { getRandomValues } = globalThis.crypto;
    vi.stubGlobal("crypto", { getRandomValues: getRandomValues.bind(globalThis.crypto) });
    const ids = Array.from({ length: 200 }, () => randomUUID());
    vi.unstubAllGlobals();
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("fail as a SignalError when the runtime has no Web Crypto at all", () => {
    vi.stubGlobal("crypto", undefined);
    expect(() => randomUUID()).toThrow(SignalError);
  });
});
