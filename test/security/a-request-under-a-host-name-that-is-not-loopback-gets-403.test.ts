import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine } from "../server/helpers.js";
import { rawRequest } from "./raw-http.js";

// DNS rebinding: a page on a domain its owner points at 127.0.0.1 is same-origin with the
// server, so CORS does not stop it, but its requests name that domain in `Host`. A server bound
// to loopback now answers only loopback names and addresses (and `allowedHosts`), like Vite and
// Jupyter. And a checkpoint's step had several spellings (`01`, `1.0`, `1e0` all meant 1).

let engine: Engine;
let server: TestServer;
let allowing: TestServer;
beforeAll(async () => {
  engine = await testEngine();
  server = await startTestServer(engine);
  allowing = await startTestServer(engine, { allowedHosts: ["dev.example.test"] });
});
afterAll(async () => {
  await server?.dispose();
  await allowing?.dispose();
  await engine?.close();
});

async function statusUnder(target: TestServer, host: string, path = "/v1/models"): Promise<{ status: number | undefined; body: string }> {
  const answer = await rawRequest(target.url, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${target.key}\r\nConnection: close\r\n\r\n`);
  return { status: answer.status, body: answer.body };
}

describe("a server bound to loopback", () => {
  it("refuses a Host that is not a loopback name or address with 403 host_not_allowed, health included", async () => {
    const port = new URL(server.url).port;
    for (const host of ["evil.example.com", `evil.example.com:${port}`, "127.0.0.1.nip.io", "10.0.0.1", "localhost.evil.com", ""]) {
      for (const path of ["/v1/models", "/v1/health"]) {
        const { status, body } = await statusUnder(server, host, path);
        expect(status, `${host} ${path}: ${body}`).toBe(403);
        expect(JSON.parse(body).error).toMatchObject({ type: "permission_error", code: "host_not_allowed" });
      }
    }
  });

  it("answers loopback names and addresses, with or without a port", async () => {
    const port = new URL(server.url).port;
    for (const host of ["localhost", `localhost:${port}`, `127.0.0.1:${port}`, "127.1.2.3", `[::1]:${port}`, "app.localhost", "LOCALHOST"]) {
      expect((await statusUnder(server, host)).status, host).toBe(200);
    }
  });

  it("answers the hosts given in allowedHosts, and only those", async () => {
    expect((await statusUnder(allowing, "dev.example.test")).status).toBe(200);
    expect((await statusUnder(allowing, "DEV.example.test:8080")).status).toBe(200);
    expect((await statusUnder(allowing, "other.example.test")).status).toBe(403);
  });
});

describe("numeric path parameters", () => {
  it("accept one canonical form: 1, never 01, 1.0, 1e0 or +1", async () => {
    const runId = await createTinyRun(server);
    expect((await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ text: "a b" }] } })).status).toBe(200);
    expect((await call(server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } })).status).toBe(201);
    expect((await call(server, "GET", `/v1/runs/${runId}/checkpoints/1`)).status).toBe(200);
    for (const step of ["01", "1.0", "1e0", "%2B1", "0x1", "1.", "001"]) {
      const reply = await call(server, "GET", `/v1/runs/${runId}/checkpoints/${step}`);
      expect(reply.status, step).toBe(422);
      expect(reply.body.error).toMatchObject({ code: "validation_error", param: "step" });
    }
  });
});
