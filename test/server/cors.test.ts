import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeCorsOrigins, originAllowed } from "../../src/server/http/cors.js";
import { startTestServer, type TestServer, useTestServer } from "./helpers.js";

const fixture = useTestServer();
let configured: TestServer | undefined;
let anyOrigin: TestServer | undefined;

beforeAll(async () => {
  configured = await startTestServer(fixture.engine, { corsOrigins: ["https://app.example.com/"] });
  anyOrigin = await startTestServer(fixture.engine, { corsOrigins: ["*"] });
});
afterAll(async () => {
  await configured?.dispose();
  await anyOrigin?.dispose();
});

function preflight(base: string, path: string, origin: string, method = "POST") {
  return fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization,content-type,idempotency-key" },
  });
}

const listHeader = (headers: Headers, name: string) => (headers.get(name) ?? "").split(",").map((item) => item.trim().toLowerCase());

describe("CORS on the local server, by default", () => {
  it("answers a preflight from a loopback page with 204, the route's methods and the SDK's headers", async () => {
    const response = await preflight(fixture.server.url, "/v1/runs", "http://localhost:5173");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(listHeader(response.headers, "access-control-allow-methods").sort()).toEqual(["get", "post"]);
    expect(listHeader(response.headers, "access-control-allow-headers")).toEqual(
      expect.arrayContaining(["authorization", "content-type", "idempotency-key", "x-signal-client", "last-event-id"]),
    );
    expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0);
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("lists a run-scoped route's own methods (GET, POST for updateRun, DELETE on a run)", async () => {
    const response = await preflight(fixture.server.url, "/v1/runs/run_abcdefgh", "http://127.0.0.1:8080", "DELETE");
    expect(response.status).toBe(204);
    expect(listHeader(response.headers, "access-control-allow-methods").sort()).toEqual(["delete", "get", "post"]);
  });

  it("admits [::1] and 127.x origins on any port and scheme", () => {
    for (const origin of ["http://[::1]:3000", "https://127.0.0.1", "http://127.1.2.3:9", "http://dev.localhost:4000"]) {
      expect(originAllowed(origin, undefined)).toBe(true);
    }
    for (const origin of ["http://localhost.evil.example", "http://192.168.1.10:5173", "null", "file://", "http://127.0.0.1.nip.io"]) {
      expect(originAllowed(origin, undefined)).toBe(false);
    }
  });

  it("lets a loopback page read the answer and the exposed headers, errors included", async () => {
    const ok = await fetch(`${fixture.server.url}/v1/models`, { headers: { origin: "http://localhost:5173", authorization: `Bearer ${fixture.server.key}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(listHeader(ok.headers, "access-control-expose-headers")).toEqual(["x-request-id", "retry-after", "idempotent-replayed"]);

    const denied = await fetch(`${fixture.server.url}/v1/models`, { headers: { origin: "http://localhost:5173", authorization: "Bearer wrong" } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
  });

  it("refuses a preflight from another site with a 403 in the error schema and no allow header", async () => {
    const response = await preflight(fixture.server.url, "/v1/runs", "https://evil.example");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    const body = (await response.json()) as { error: { type: string; code: string; message: string; request_id: string } };
    expect(body.error).toMatchObject({ type: "permission_error", code: "cors_origin_not_allowed" });
    expect(body.error.message).toContain("--cors-origin https://evil.example");
    expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("gives a page on another site no allow header on a simple request, so its script cannot read it", async () => {
    const response = await fetch(`${fixture.server.url}/v1/health`, { headers: { origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers a preflight for a path that is no route with 404", async () => {
    const response = await preflight(fixture.server.url, "/v1/nothing", "http://localhost:5173");
    expect(response.status).toBe(404);
  });

  it("keeps a plain OPTIONS without a preflight header a 405 listing the methods", async () => {
    const response = await fetch(`${fixture.server.url}/v1/runs`, { method: "OPTIONS" });
    expect(response.status).toBe(405);
    expect(listHeader(response.headers, "allow").sort()).toEqual(["get", "post"]);
  });
});

describe("CORS with corsOrigins", () => {
  it("admits exactly the configured origins (normalized) and no longer loopback ones", async () => {
    const url = configured!.url;
    expect((await preflight(url, "/v1/runs", "https://app.example.com")).status).toBe(204);
    const loopback = await preflight(url, "/v1/runs", "http://localhost:5173");
    expect(loopback.status).toBe(403);
    expect(loopback.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("admits every origin with *", async () => {
    const response = await preflight(anyOrigin!.url, "/v1/runs", "https://anywhere.example");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://anywhere.example");
  });

  it("refuses an entry that is not an origin, naming it", () => {
    expect(() => normalizeCorsOrigins(["localhost:5173"])).toThrow(/'localhost:5173' is not an origin/);
    expect(() => normalizeCorsOrigins(["http://localhost:5173/app"])).toThrow(/'http:\/\/localhost:5173\/app'/);
    expect(normalizeCorsOrigins(["HTTP://LOCALHOST:5173/"])).toEqual(["http://localhost:5173"]);
  });
});
