import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { APIConnectionError, type APIError, APITimeoutError, type ErrorCode, SignalClient, ValidationError } from "../../src/index.js";
import { compileScenario } from "../../src/testing/scenarios.js";
import { freePort } from "../helpers/free-port.js";

const fast = { initialDelay: 1, maxDelay: 2 };

describe("a request that gets no response", () => {
  it("a refused connection names the method, the URL, the root cause's code and the attempts", async () => {
    const port = await freePort(); // nothing listens on it
    const client = new SignalClient({ apiKey: "sk-never-shown", baseUrl: `http://127.0.0.1:${port}`, maxRetries: 2, backoff: fast });
    const error = await client.getHealth().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    const e = error as APIConnectionError;
    expect(e.message).toContain(`getHealth: GET http://127.0.0.1:${port}/v1/health`);
    expect(e.message).toContain("ECONNREFUSED");
    expect(e.message).toContain("3 attempts");
    expect(e.message).not.toContain("sk-never-shown");
    expect({ code: e.code, attempts: e.attempts, method: e.method, url: e.url, operation: e.operation }).toEqual({
      code: "ECONNREFUSED",
      attempts: 3,
      method: "GET",
      url: `http://127.0.0.1:${port}/v1/health`,
      operation: "getHealth",
    });
  });

  describe("a server that never answers", () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer(() => {}); // accepts and never responds
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it("a timeout names the method, the URL, the timeout and the attempts", async () => {
      const client = new SignalClient({ apiKey: "sk-x", baseUrl: url, timeout: 50, maxRetries: 1, backoff: fast });
      const error = (await client.getRun("run_12345678").catch((e: unknown) => e)) as APITimeoutError;
      expect(error).toBeInstanceOf(APITimeoutError);
      expect(error.message).toContain(`getRun: GET ${url}/v1/runs/run_12345678 timed out after 50 ms`);
      expect(error.message).toContain("2 attempts");
      expect(error.attempts).toBe(2);
    });
  });
});

describe("an example that matches no shape of the batch union", () => {
  const client = new SignalClient({ apiKey: "sk-x", baseUrl: "http://127.0.0.1:9", fetch: () => Promise.reject(new Error("nothing is sent")) });

  it("names the field of the closest shape: batch[0].completion, batch[0].advantages[1]", async () => {
    const missing = await client.forwardBackward("run_12345678", [{ prompt: "Q:" } as never]).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect((missing as ValidationError).path).toBe("batch[0].completion");
    expect((missing as ValidationError).message).toMatch(/^forwardBackward: batch\[0\]\.completion: /);
    const nullAdvantage = await client
      .forwardBackward("run_12345678", [{ tokens: [1, 2], logprobs: [0, -1], advantages: [0, null as unknown as number] }], { loss_fn: "importance_sampling" })
      .catch((e: unknown) => e);
    expect((nullAdvantage as ValidationError).path).toBe("batch[0].advantages[1]");
  });
});

describe("error codes", () => {
  it("APIError.code is typed as the spec's codes, still open to a new one", () => {
    expectTypeOf<APIError["code"]>().toEqualTypeOf<ErrorCode | undefined>();
    const known: ErrorCode = "run_not_found";
    const newer: ErrorCode = "a_code_added_later";
    expect([known, newer]).toHaveLength(2);
  });
});

describe("the mock's scripted errors", () => {
  it("a 429's message waits as long as its Retry-After header says", () => {
    const scenario = compileScenario("sample", { status: 429, retryAfter: 7 });
    expect(scenario.headers["retry-after"]).toBe("7");
    const body = scenario.body("req_1") as { error: { message: string } };
    expect(body.error.message).toContain("retry after 7 seconds");
    expect(body.error.message).not.toMatch(/after 2 seconds/);
    const none = compileScenario("sample", { status: 429, retryAfter: null }).body("req_2") as { error: { message: string } };
    expect(none.error.message).not.toMatch(/after \d+ second/);
  });
});
