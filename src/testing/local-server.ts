import { randomBytes } from "node:crypto";
import type { ServerLimits } from "../server/limits.js";

/** Options of `createLocalServer`. */
export interface LocalServerOptions {
  /** The model `listModels` marks as the default (first, `default: true`). @default "signal-byte-tiny" */
  defaultModel?: string | undefined;
  /** The API key the server accepts. @default a generated `sk-local-…` key */
  apiKey?: string | undefined;
  /** Engine worker threads. @default 1 (test files usually run side by side) */
  workers?: number | undefined;
  /** Receives the server's request lines. @default none */
  log?: ((line: string) => void) | undefined;
  /**
   * Hugging Face checkpoint folders to serve next to the built-in models (Llama, Mistral, Qwen2,
   * Qwen3; as `signal serve --model`): `id` defaults to the folder's name, `contextLength` caps
   * the context below the checkpoint's `max_position_embeddings`. Trained on ONNX Runtime when
   * the optional peer `onnxruntime-node` is installed, else on the tensor library. Name one in
   * `defaultModel` to make it the default.
   * @default none
   */
  models?: ReadonlyArray<{ path: string; id?: string | undefined; contextLength?: number | undefined }> | undefined;
  /**
   * Passed to `startServer` as is (see its `ServerOptions`). Spelled out rather than derived from
   * `ServerOptions`, so this entry's declarations do not reach the engine's tensor-library types
   * (which need DOM's) and compile in a Node-only project.
   */
  server?:
    | {
        bodyLimitBytes?: number | undefined;
        limits?: Partial<ServerLimits> | undefined;
        sequenceHoldMs?: number | undefined;
        corsOrigins?: string[] | undefined;
      }
    | undefined;
}

/** The reference server running in this process; see `createLocalServer`. */
export interface LocalServer {
  /** Base URL without a trailing slash, on 127.0.0.1 and a free port. */
  readonly url: string;
  /** The API key it accepts. */
  readonly apiKey: string;
  /** Always `":memory:"`: runs, checkpoints and idempotency records live in memory, nothing is written to disk. */
  readonly dataDir: string;
  /** Stops the server and the engine; what it kept is gone. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the local reference server in this process, for real (training, checkpoints,
 * sampling on the CPU engine), on a free loopback port with a generated key and
 * `signal-byte-tiny` as the default model. Its runs live in memory (`dataDir: ":memory:"`), so
 * it needs only the tensor library (`@tensorflow/tfjs`, `@tensorflow/tfjs-backend-wasm`): no
 * native database driver to build, no files to clean up.
 *
 * @throws Error when the server's optional peers (the tensor library) are missing; the message
 *   names the `npm install` command.
 */
export async function createLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  // Loaded here, so importing frontier-signal/testing for the mock alone loads no server code.
  const { startServer } = await import("../server/start-server.js");
  const apiKey = options.apiKey ?? `sk-local-${randomBytes(12).toString("hex")}`;
  const dataDir = ":memory:";
  const server = await startServer({
    ...options.server,
    port: 0,
    host: "127.0.0.1",
    dataDir,
    apiKeys: [apiKey],
    defaultModel: options.defaultModel ?? "signal-byte-tiny",
    models: (options.models ?? []).map(({ path, id, contextLength }) => ({
      path,
      ...(id !== undefined ? { id } : {}),
      ...(contextLength !== undefined ? { contextLength } : {}),
    })),
    workers: options.workers ?? 1,
    log: options.log ?? false,
  });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= server.close());
  return { url: server.url, apiKey, dataDir, close, [Symbol.asyncDispose]: close };
}
