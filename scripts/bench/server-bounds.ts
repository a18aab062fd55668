// Server bounds benchmark: the heap an unread SSE stream holds (with the backpressure and, for
// the "before", with it turned off), and a burst of 500 concurrent samples through the SDK
// against a server process: do all succeed, which statuses came back, and how slow getHealth
// got meanwhile; and one key flooding forward calls while another times its short calls.
// `npx tsx scripts/bench/server-bounds.ts` prints the markdown;
// `scripts/bench/index.ts` calls `benchServerBounds()`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { SignalClient } from "../../src/index.js";
import { createEngine } from "../../src/server/engine/index.js";
import type { Engine, SampleFlow } from "../../src/server/engine/types.js";
import { startServer } from "../../src/server/index.js";
import { startServerProcess } from "./server-process.js";
import { fmt, median, percentile } from "./stats.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Unread streams open at once, and what each asks for: far more events than the socket buffers hold. */
const STREAMS = 2;
const STREAM_BODY = { prompts: Array.from({ length: 256 }, (_, i) => `p${i}`), n: 4, max_tokens: 240, temperature: 1, seed: 5, stream: true, logprobs: true };
const BURST = 500;

function heapNow(): { heap: number; external: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function until(what: string, ok: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Opens STREAMS streamed samples on raw sockets that never read, on an in-process server (so its
 * heap is this process's), and measures the heap they hold once nothing more moves: with
 * backpressure, when every stream's generation has paused; without (`streamBufferBytes:
 * Infinity`, the behaviour before), when every generation has finished and sits in the heap.
 */
async function unreadStreamHeap(backpressure: boolean): Promise<{ heapPerStream: number; externalPerStream: number; eventsPerStream: number }> {
  const engine = await createEngine({ workers: 2, kvBudgetBytes: 512 * 2 ** 20 });
  const seen: { flow: SampleFlow | undefined; events: number; ended: boolean }[] = [];
  const watched: Engine = Object.create(engine);
  watched.sample = (weights, prompts, params, options = {}) => {
    const onToken = options.onToken;
    if (!onToken) return engine.sample(weights, prompts, params, options);
    const entry = { flow: options.flow, events: 0, ended: false };
    seen.push(entry);
    const result = engine.sample(weights, prompts, params, {
      ...options,
      onToken: (event) => {
        entry.events++;
        onToken(event);
      },
    });
    void result.then(
      () => (entry.ended = true),
      () => (entry.ended = true),
    );
    return result;
  };
  const dataDir = mkdtempSync(join(tmpdir(), "signal-bench-sse-"));
  const server = await startServer({
    port: 0,
    apiKeys: ["sk-bench"],
    log: false,
    engine: watched,
    dataDir,
    limits: backpressure ? {} : { streamBufferBytes: Number.POSITIVE_INFINITY },
  });
  const sockets: net.Socket[] = [];
  try {
    const headers = { authorization: "Bearer sk-bench", "content-type": "application/json" };
    const runIds: string[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const created = await fetch(`${server.url}/v1/runs`, { method: "POST", headers, body: JSON.stringify({ base_model: "signal-byte-tiny", seed: 1 }) });
      runIds.push(((await created.json()) as { run_id: string }).run_id);
    }
    const before = heapNow();
    const body = JSON.stringify(STREAM_BODY);
    const port = Number(new URL(server.url).port);
    for (const runId of runIds) {
      const socket = net.connect(port, "127.0.0.1");
      socket.pause();
      socket.write(
        `POST /v1/runs/${runId}/sample HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-bench\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      sockets.push(socket);
    }
    await until("every stream started", () => seen.length === STREAMS);
    if (backpressure) await until("every stream paused", () => seen.every((s) => s.flow?.paused === true));
    else await until("every stream generated everything", () => seen.every((s) => s.ended));
    // Let the events already on their way from the workers land.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const held = heapNow();
    return {
      heapPerStream: (held.heap - before.heap) / STREAMS,
      externalPerStream: (held.external - before.external) / STREAMS,
      eventsPerStream: seen.reduce((a, s) => a + s.events, 0) / STREAMS,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.close();
    await engine.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** getHealth polled from a process of its own, so the burst's client work does not slow the poller. */
function healthPoller(url: string): { stop: () => Promise<number[]> } {
  const script = `
    const times = []; let stop = false;
    process.stdin.on("data", () => { stop = true; });
    (async () => {
      while (!stop) {
        const t = performance.now();
        try { await (await fetch(${JSON.stringify(`${url}/v1/health`)})).arrayBuffer(); times.push(performance.now() - t); }
        catch { times.push(-1); }
        await new Promise((r) => setTimeout(r, 10));
      }
      process.stdout.write(JSON.stringify(times));
    })();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return {
    stop: () =>
      new Promise<number[]>((resolve) => {
        child.once("exit", () => resolve(JSON.parse(out || "[]") as number[]));
        child.stdin.end("stop\n");
      }),
  };
}

interface BurstFigures {
  succeeded: number;
  failed: number;
  wallMs: number;
  responses: number;
  status2xx: number;
  status429: number;
  status503WithRetryAfter: number;
  other5xx: number;
  otherStatus: number;
  healthP50: number;
  healthP99: number;
  healthMax: number;
  healthFailed: number;
  idleHealthP50: number;
  idleHealthP99: number;
  idleHealthMax: number;
}

/** BURST concurrent `client.sample` calls (one prompt, 16 tokens, one key, one run) against a server process. */
async function burst(): Promise<BurstFigures> {
  const server = await startServerProcess({ workers: 2 });
  try {
    const statuses: { status: number; retryAfter: boolean }[] = [];
    const client = new SignalClient({
      apiKey: server.apiKey,
      baseUrl: server.url,
      maxRetries: 100,
      timeout: 300_000,
      fetch: async (request) => {
        const response = await fetch(request);
        statuses.push({ status: response.status, retryAfter: response.headers.has("retry-after") });
        return response;
      },
    });
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 1 });
    await client.sample(run.run_id, ["warm up"], { max_tokens: 4 });
    statuses.length = 0;
    // The same poll with the server idle first: what the shared machine alone costs.
    const idlePoller = healthPoller(server.url);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const idle = (await idlePoller.stop()).filter((t) => t >= 0);
    const poller = healthPoller(server.url);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: BURST }, (_, i) => client.sample(run.run_id, [`Q: ${i}?\nA:`], { max_tokens: 16, temperature: 1, seed: i })),
    );
    const wallMs = performance.now() - started;
    const health = await poller.stop();
    const ok = health.filter((t) => t >= 0);
    const count = (f: (s: { status: number; retryAfter: boolean }) => boolean) => statuses.filter(f).length;
    return {
      succeeded: outcomes.filter((o) => o.status === "fulfilled").length,
      failed: outcomes.filter((o) => o.status === "rejected").length,
      wallMs,
      responses: statuses.length,
      status2xx: count((s) => s.status >= 200 && s.status < 300),
      status429: count((s) => s.status === 429),
      status503WithRetryAfter: count((s) => s.status === 503 && s.retryAfter),
      other5xx: count((s) => s.status >= 500 && !(s.status === 503 && s.retryAfter)),
      otherStatus: count((s) => s.status < 200 || (s.status >= 300 && s.status < 500 && s.status !== 429)),
      healthP50: median(ok),
      healthP99: percentile(ok, 99),
      healthMax: Math.max(...ok),
      healthFailed: health.length - ok.length,
      idleHealthP50: median(idle),
      idleHealthP99: percentile(idle, 99),
      idleHealthMax: Math.max(...idle),
    };
  } finally {
    await server.stop();
  }
}

/** Key A's flood: forward calls on a checkpoint, each of FLOOD_EXAMPLES examples of ~255 tokens. */
const FLOOD_CALLS = 200;
const FLOOD_EXAMPLES = 64;
/** Key B's short calls during the flood: a 1-token sample on its own run, one after another. */
const SHORT_CALLS = 20;

interface FairnessFigures {
  /** One of key A's forward calls with the server otherwise idle. */
  floodCallMs: number;
  idleShortP50: number;
  idleShortMax: number;
  accepted: number;
  refused429: number;
  otherStatus: number;
  shortP50: number;
  shortP99: number;
  shortMax: number;
  floodWallMs: number;
}

/**
 * Key A sends FLOOD_CALLS concurrent `forward` calls (as the probe did: each FLOOD_EXAMPLES
 * examples of ~255 tokens, on a checkpoint step so none waits in a run's queue); admission takes
 * what key A's limit allows and refuses the rest. Meanwhile key B makes SHORT_CALLS 1-token
 * samples on its own run, one after another, timed from the client.
 */
async function fairness(): Promise<FairnessFigures> {
  const keyB = `sk-bench-b-${process.pid}`;
  const server = await startServerProcess({ workers: 2, extraKeys: [keyB] });
  try {
    const post = async (key: string, path: string, body: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { run_id?: string } };
    };
    const must = async (key: string, path: string, body: unknown) => {
      const reply = await post(key, path, body);
      if (reply.status >= 300) throw new Error(`bench: ${path} answered ${reply.status} ${JSON.stringify(reply.body)}`);
      return reply.body;
    };
    const runA = String((await must(server.apiKey, "/v1/runs", { base_model: "signal-byte-tiny", seed: 1 })).run_id);
    await must(server.apiKey, `/v1/runs/${runA}/train_step`, { batch: [{ text: "warm up" }] });
    await must(server.apiKey, `/v1/runs/${runA}/checkpoints`, { mode: "adapter" });
    const runB = String((await must(keyB, "/v1/runs", { base_model: "signal-byte-tiny", seed: 2 })).run_id);
    const short = async () => {
      const started = performance.now();
      await must(keyB, `/v1/runs/${runB}/sample`, { prompts: ["Q: red?\nA:"], max_tokens: 1, temperature: 0 });
      return performance.now() - started;
    };
    const batch = Array.from({ length: FLOOD_EXAMPLES }, (_, i) => ({ text: `${i} ${"abcdefghij".repeat(25)}`.slice(0, 253) }));
    const floodBody = { batch, step: 1 };
    await must(server.apiKey, `/v1/runs/${runA}/forward`, floodBody);
    let started = performance.now();
    await must(server.apiKey, `/v1/runs/${runA}/forward`, floodBody);
    const floodCallMs = performance.now() - started;
    const idle: number[] = [];
    for (let i = 0; i < SHORT_CALLS; i++) idle.push(await short());

    started = performance.now();
    const flood = Array.from({ length: FLOOD_CALLS }, () => post(server.apiKey, `/v1/runs/${runA}/forward`, floodBody));
    let floodDone = false;
    const floodEnded = Promise.all(flood).then((replies) => {
      floodDone = true;
      return replies;
    });
    // Key B's calls start once the flood is in, and stop when it is over.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const during: number[] = [];
    while (!floodDone && during.length < SHORT_CALLS) during.push(await short());
    const replies = await floodEnded;
    const floodWallMs = performance.now() - started;
    return {
      floodCallMs,
      idleShortP50: median(idle),
      idleShortMax: Math.max(...idle),
      accepted: replies.filter((r) => r.status === 200).length,
      refused429: replies.filter((r) => r.status === 429).length,
      otherStatus: replies.filter((r) => r.status !== 200 && r.status !== 429).length,
      shortP50: median(during),
      shortP99: percentile(during, 99),
      shortMax: Math.max(...during),
      floodWallMs,
    };
  } finally {
    await server.stop();
  }
}

export async function benchServerBounds(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const after = await unreadStreamHeap(true);
  const before = await unreadStreamHeap(false);
  const b = await burst();
  const f = await fairness();
  const mib = (bytes: number) => bytes / 2 ** 20;
  const figures: Record<string, number> = {
    "unread stream: heap MiB per stream": mib(after.heapPerStream),
    "unread stream: external MiB per stream": mib(after.externalPerStream),
    "unread stream: events generated per stream": after.eventsPerStream,
    "unread stream, backpressure off (before): heap MiB per stream": mib(before.heapPerStream),
    "unread stream, backpressure off (before): external MiB per stream": mib(before.externalPerStream),
    "unread stream, backpressure off (before): events generated per stream": before.eventsPerStream,
    "burst: calls": BURST,
    "burst: succeeded": b.succeeded,
    "burst: failed": b.failed,
    "burst: wall ms": b.wallMs,
    "burst: responses": b.responses,
    "burst: 2xx": b.status2xx,
    "burst: 429": b.status429,
    "burst: 503 with Retry-After": b.status503WithRetryAfter,
    "burst: other 5xx": b.other5xx,
    "burst: other statuses": b.otherStatus,
    "burst: getHealth p50 ms": b.healthP50,
    "burst: getHealth p99 ms": b.healthP99,
    "burst: getHealth max ms": b.healthMax,
    "burst: getHealth failed": b.healthFailed,
    "idle server: getHealth p50 ms": b.idleHealthP50,
    "idle server: getHealth p99 ms": b.idleHealthP99,
    "idle server: getHealth max ms": b.idleHealthMax,
    "fairness: one flood call ms": f.floodCallMs,
    "fairness: key B short call idle p50 ms": f.idleShortP50,
    "fairness: key B short call idle max ms": f.idleShortMax,
    "fairness: flood calls accepted": f.accepted,
    "fairness: flood calls refused 429": f.refused429,
    "fairness: flood calls other status": f.otherStatus,
    "fairness: key B short call p50 ms": f.shortP50,
    "fairness: key B short call p99 ms": f.shortP99,
    "fairness: key B short call max ms": f.shortMax,
    "fairness: flood wall ms": f.floodWallMs,
  };
  const markdown = [
    "## Server bounds: unread streams and a burst of samples",
    "",
    `**Heap per unread SSE stream** (goal ≤ 1 MiB). ${STREAMS} streamed samples on raw sockets that never read, each ${STREAM_BODY.prompts.length} prompts × n=${STREAM_BODY.n} × up to ${STREAM_BODY.max_tokens} tokens with logprobs on \`signal-byte-tiny\` (megabytes of events, far more than the loopback socket buffers take, ~4 MB here), on an in-process server; the heap after a full GC, minus the heap before the streams opened, per stream. With backpressure: measured once every stream's generation has paused. The before: the same with \`limits.streamBufferBytes: Infinity\` (no backpressure, as the server was), once every generation has finished. "External" is Buffer and ArrayBuffer memory outside the JS heap. The paused streams' KV caches stay in the engine workers' wasm memory (bounded by \`kvBudgetBytes\`) until the client reads or is cut off after \`streamStallMs\`.`,
    "",
    "| | heap MiB per stream | external MiB per stream | events generated per stream |",
    "|---|---|---|---|",
    `| backpressure (now) | ${fmt(mib(after.heapPerStream))} | ${fmt(mib(after.externalPerStream))} | ${after.eventsPerStream.toFixed(0)} |`,
    `| no backpressure (before) | ${fmt(mib(before.heapPerStream))} | ${fmt(mib(before.externalPerStream))} | ${before.eventsPerStream.toFixed(0)} |`,
    "",
    `**${BURST} concurrent samples through the SDK** (goals: all succeed; 0 × 5xx other than 503 with Retry-After; getHealth p99 ≤ 50 ms). One \`SignalClient\` (\`maxRetries: 100\`), one key, one run on \`signal-byte-tiny\`, each call one prompt and 16 tokens, against \`signal serve\` (2 workers, default limits) in its own process. Every HTTP response the SDK received is counted, retries included. getHealth is polled every 10 ms by a separate process during the burst, and for 3 s before it with the server idle (what the shared machine alone costs).`,
    "",
    "| calls | succeeded | wall s | responses | 2xx | 429 | 503 + Retry-After | other 5xx | getHealth p50 / p99 / max ms | idle server: getHealth p50 / p99 / max ms |",
    "|---|---|---|---|---|---|---|---|---|---|",
    `| ${BURST} | ${b.succeeded} | ${fmt(b.wallMs / 1000, 1)} | ${b.responses} | ${b.status2xx} | ${b.status429} | ${b.status503WithRetryAfter} | ${b.other5xx} | ${fmt(b.healthP50, 1)} / ${fmt(b.healthP99, 1)} / ${fmt(b.healthMax, 1)} | ${fmt(b.idleHealthP50, 1)} / ${fmt(b.idleHealthP99, 1)} / ${fmt(b.idleHealthMax, 1)} |`,
    "",
    `**Short call latency of key B while key A floods** (goal: key B's short call waits for about one of key A's calls per engine step it needs, not for key A's backlog: ≤ 3 × one flood call; the probe measured 87.5 s, normally 2 ms). Key A sends ${FLOOD_CALLS} concurrent \`forward\` calls, each ${FLOOD_EXAMPLES} examples of ~255 tokens on a checkpoint of a \`signal-byte-tiny\` run (so none waits in a run's queue); admission takes what key A's limit allows (\`maxQueuedPerKey\`, 64) and refuses the rest with 429. From 1 s into the flood until it ends, key B makes 1-token samples on its own run, one after another (at most ${SHORT_CALLS}), timed from the client. \`signal serve\` with 2 workers, default limits, in its own process. The engine serves the keys with calls waiting in turn, and a worker gives sampling in progress a round before each blocking call: key B's sample waits for the forward pass in progress on its worker, one more per sampling round it needs, and, when it is routed to a copy of its run on the other worker, one on each worker for the copy. A flood call is timed with the server otherwise idle; under the flood, on a shared machine, each takes longer. 503s are key A's calls past its run's limit (\`maxQueuedPerRun\`, 32).`,
    "",
    "| one flood call ms | key B idle p50 / max ms | flood: accepted / 429 / other | key B during the flood p50 / p99 / max ms | flood wall s |",
    "|---|---|---|---|---|",
    `| ${fmt(f.floodCallMs, 0)} | ${fmt(f.idleShortP50, 1)} / ${fmt(f.idleShortMax, 1)} | ${f.accepted} / ${f.refused429} / ${f.otherStatus} | ${fmt(f.shortP50, 0)} / ${fmt(f.shortP99, 0)} / ${fmt(f.shortMax, 0)} | ${fmt(f.floodWallMs / 1000, 1)} |`,
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { markdown } = await benchServerBounds();
  process.stdout.write(markdown);
  process.exit(0);
}
