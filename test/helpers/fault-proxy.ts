import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mulberry32 as random } from "./mulberry32.js";

/** What the proxy does to one request. */
type Fault = "pass" | "drop-after-forward" | "503" | "429" | "delay";

export interface FaultProxyOptions {
  /** Where requests go, e.g. `http://127.0.0.1:7300`. */
  upstream: string;
  /** Seeds the fault sequence: the same seed and request order give the same faults. */
  seed: number;
  /** Probability of each fault per request; the rest pass. */
  rates: Partial<Record<Exclude<Fault, "pass">, number>>;
  /**
   * Most faults in a row for one call (one Idempotency-Key; requests without one count
   * together) before its next attempt is let through untouched, so a client with that many
   * retries always gets through, however many calls it has in flight. @default 2
   */
  maxConsecutiveFaults?: number;
  /** `Retry-After` seconds on injected 429/503. @default 0 */
  retryAfterSeconds?: number;
  /** Delay of a `delay` fault, in ms. @default 20 */
  delayMs?: number;
  /** Only requests whose path matches are eligible for faults. @default every request */
  match?: (method: string, path: string) => boolean;
}

export interface FaultProxy {
  url: string;
  /** How many requests met each fate. */
  counts: Record<Fault, number>;
  /** Every decision, in arrival order, with the request's `Signal-Sequence` header if any. */
  log: Array<{ method: string; path: string; fault: Fault; sequence?: string | undefined }>;
  /** Most requests the proxy was handling at once. */
  peakInFlight: number;
  close(): Promise<void>;
}

/**
 * A fault-injecting HTTP proxy on 127.0.0.1: seeded, bounded, and honest about what it did.
 * `drop-after-forward` sends the request upstream, waits for the whole answer (the server did the
 * work) and then destroys the client's socket, so the client never hears; `503`/`429` answer in
 * the error schema with `Retry-After` without forwarding; `delay` forwards after a pause.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const next = random(options.seed);
  const maxRun = options.maxConsecutiveFaults ?? 2;
  const counts: Record<Fault, number> = { pass: 0, "drop-after-forward": 0, "503": 0, "429": 0, delay: 0 };
  const log: FaultProxy["log"] = [];
  /** Faults in a row by Idempotency-Key. */
  const consecutive = new Map<string, number>();
  let inFlight = 0;
  let peakInFlight = 0;

  const decide = (method: string, path: string, key: string): Fault => {
    if (options.match && !options.match(method, path)) return "pass";
    const roll = next();
    const run = consecutive.get(key) ?? 0;
    if (run >= maxRun) {
      consecutive.delete(key);
      return "pass";
    }
    let edge = 0;
    for (const fault of ["drop-after-forward", "503", "429", "delay"] as const) {
      edge += options.rates[fault] ?? 0;
      if (roll < edge) {
        // A delay is not a failure: it does not count towards the bound.
        if (fault !== "delay") consecutive.set(key, run + 1);
        return fault;
      }
    }
    consecutive.delete(key);
    return "pass";
  };

  const forward = async (req: IncomingMessage, body: Buffer): Promise<Response> => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || name === "host" || name === "connection" || name === "content-length") continue;
      headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    return fetch(new URL(req.url ?? "/", options.upstream), {
      method: req.method,
      headers,
      body: body.length > 0 ? new Uint8Array(body) : undefined,
    });
  };

  const reply = async (res: ServerResponse, upstream: Response) => {
    const headers: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (name !== "content-length" && name !== "transfer-encoding" && name !== "connection") headers[name] = value;
    });
    res.writeHead(upstream.status, headers);
    if (upstream.body) {
      const reader = upstream.body.getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) res.write(part.value);
    }
    res.end();
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const key = req.headers["idempotency-key"];
    const fault = decide(method, path, typeof key === "string" ? key : "");
    counts[fault]++;
    const sequence = req.headers["signal-sequence"];
    log.push({ method, path, fault, sequence: typeof sequence === "string" ? sequence : undefined });
    peakInFlight = Math.max(peakInFlight, ++inFlight);
    res.once("close", () => inFlight--);
    try {
      if (fault === "503" || fault === "429") {
        const status = Number(fault);
        res.writeHead(status, {
          "content-type": "application/json",
          "retry-after": String(options.retryAfterSeconds ?? 0),
          "x-request-id": `req_proxy${counts[fault]}`,
        });
        res.end(
          JSON.stringify({
            error: {
              type: status === 429 ? "rate_limit_error" : "overloaded_error",
              code: status === 429 ? "rate_limited" : "overloaded",
              message: `injected ${status}`,
              request_id: `req_proxy${counts[fault]}`,
            },
          }),
        );
        return;
      }
      if (fault === "delay") await new Promise((r) => setTimeout(r, options.delayMs ?? 20));
      const upstream = await forward(req, body);
      if (fault === "drop-after-forward") {
        await upstream.arrayBuffer();
        req.socket.destroy();
        return;
      }
      await reply(res, upstream);
    } catch {
      req.socket.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    log,
    get peakInFlight() {
      return peakInFlight;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
