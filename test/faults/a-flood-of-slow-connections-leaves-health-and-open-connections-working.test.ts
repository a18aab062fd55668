import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type SpawnedServer, spawnServer } from "./spawn-server.js";

// Under `ulimit -n 256` the server keeps at most 128 connections (half the limit): 300 clients
// that connect and send half a request head would otherwise take every descriptor, so that
// health cannot be accepted and a training step cannot open its state file (EMFILE, a 500).
const OPEN_FILES = 256;
const SLOW_CLIENTS = 300;

let server: SpawnedServer;
const slow: net.Socket[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

beforeAll(async () => {
  server = await spawnServer({ openFiles: OPEN_FILES });
});
afterAll(async () => {
  for (const socket of slow) socket.destroy();
  agent.destroy();
  await server?.dispose();
});

interface Answer {
  status: number;
  body: string;
  localPort: number | undefined;
}

function request(method: string, pathname: string, body?: unknown, viaAgent = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: "127.0.0.1",
        port: server.port,
        method,
        path: pathname,
        agent: viaAgent ? agent : false,
        headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json", ...(data ? { "content-length": Buffer.byteLength(data) } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, localPort: res.socket?.localPort }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

it("keeps health answering and an open connection training while slow clients hold connections", async () => {
  const created = await request("POST", "/v1/runs", { base_model: "signal-byte-tiny" }, true);
  expect(created.status).toBe(201);
  const runId = (JSON.parse(created.body) as { run_id: string }).run_id;
  const batch = [{ prompt: "Q: red?\nA:", completion: " apple\n" }];
  const first = await request("POST", `/v1/runs/${runId}/train_step`, { batch }, true);
  expect(first.status).toBe(200);

  await Promise.all(
    Array.from({ length: SLOW_CLIENTS }, () => {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => undefined);
      slow.push(socket);
      return new Promise<void>((resolve) => socket.once("connect", () => socket.write("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", () => resolve())));
    }),
  );

  const health = await request("GET", "/v1/health");
  expect(health.status, health.body).toBe(200);
  const second = await request("POST", `/v1/runs/${runId}/train_step`, { batch }, true);
  expect(second.status, second.body).toBe(200);
  // The same connection as before: proven clients are not the ones closed to make room.
  expect(second.localPort).toBe(first.localPort);
  await expect.poll(() => slow.filter((s) => !s.destroyed && !s.readableEnded).length).toBeLessThanOrEqual(OPEN_FILES / 2);
  expect(server.output()).not.toMatch(/EMFILE/);
});
