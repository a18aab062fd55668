import pLimit from "p-limit";
import type { SampleChunk, SampleResult } from "../generated/schema.js";
import type { Api } from "./core/api.js";
import { embeddings, sample, sampleStream } from "./core/ops-inference.js";
import { attachRequestId, requestIdOf, type WithRequestId } from "./core/request-id.js";
import type { RequestOptions } from "./core/transport.js";
import { inspectSymbol } from "./client-options.js";
import { BatchSampleError, SignalError } from "./errors.js";
import { SampleCache, type CacheOptions, type CacheStats } from "./sample-cache.js";
import type { SampleParams } from "./types.js";

/** Options of an InferenceClient beyond the connection. */
export interface InferenceOptions {
  /** Sample from the checkpoint at this step; omitted means the live weights (and no cache). */
  step?: number | undefined;
  /** Prompts per request in `batchSample`. @default 32 */
  batchSize?: number | undefined;
  /** Requests of one `batchSample` in flight at once. @default 4 */
  concurrency?: number | undefined;
}

/** `batchSample` parameters: sampling parameters plus an optional chunk size. */
export type BatchSampleParams = SampleParams & {
  /** Prompts per request. @default the client's `batchSize` (32) */
  batch_size?: number;
};

/**
 * Sampling from one run with inference defaults: 30 s per attempt, 2 retries, retried at once.
 * `step` pins a checkpoint (per call, `params.step` overrides it). Has a per-prompt LRU cache
 * (off until `enableCache()`), batched sampling with bounded concurrency, streaming and
 * embeddings. Make one with `client.inference(runId, ...)` (shares the client's pool) or
 * `new AsyncInferenceClient({ runId, apiKey, ... })` (owns its pool).
 */
export class InferenceClient {
  readonly runId: string;
  /** The pinned checkpoint step, or `undefined` for the live weights. */
  readonly step: number | undefined;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly #api: Api;
  readonly #ownsPool: boolean;
  #cache: SampleCache | undefined;
  #closed = false;

  /** @internal Use `client.inference(runId)` or `new AsyncInferenceClient(...)`. */
  constructor(api: Api, runId: string, options: InferenceOptions & { ownsPool: boolean }) {
    this.#api = api;
    this.runId = runId;
    this.step = options.step;
    this.batchSize = options.batchSize ?? 32;
    this.concurrency = options.concurrency ?? 4;
    this.#ownsPool = options.ownsPool;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new SignalError(`batchSize must be a positive integer, got ${this.batchSize}.`);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new SignalError(`concurrency must be a positive integer, got ${this.concurrency}.`);
  }

  #check(): void {
    if (this.#closed) throw new SignalError(`InferenceClient for ${this.runId} is closed.`);
  }

  #withStep(params: SampleParams): SampleParams {
    return params.step === undefined && this.step !== undefined ? { ...params, step: this.step } : params;
  }

  /**
   * The full wire response (`samples` with `prompt_index`, `finish_reason`, optional logprobs,
   * `usage`). Never cached.
   */
  async sampleDetailed(prompts: string[], params: SampleParams = {}, options?: RequestOptions): Promise<WithRequestId<SampleResult>> {
    this.#check();
    return sample(this.#api, this.runId, { ...this.#withStep(params), prompts }, options);
  }

  /**
   * One text per completion, in order (`prompt_index * n + sample`). With the cache on, cached
   * prompts are answered locally and only the misses are sent, in one request.
   * @throws ValidationError for bad parameters (nothing sent); BadRequestError when a prompt plus max_tokens exceeds the context.
   */
  async sample(prompts: string[], params: SampleParams = {}, options?: RequestOptions): Promise<WithRequestId<string[]>> {
    this.#check();
    const effective = this.#withStep(params);
    const scope = this.#cache?.scope(this.runId, effective.step, effective);
    if (!this.#cache || scope === undefined) {
      const result = await this.sampleDetailed(prompts, effective, options);
      return attachRequestId(textsOf(result), result._request_id);
    }
    const cache = this.#cache;
    const found = prompts.map((prompt) => cache.get(scope, prompt));
    const misses = [...new Set(prompts.filter((_, i) => found[i] === undefined))];
    let requestId: string | undefined;
    if (misses.length > 0) {
      const result = await this.sampleDetailed(misses, effective, options);
      requestId = result._request_id;
      const n = effective.n ?? 1;
      const texts = textsOf(result);
      const fresh = new Map(misses.map((prompt, i) => [prompt, texts.slice(i * n, (i + 1) * n)]));
      for (const [prompt, completions] of fresh) cache.set(scope, prompt, completions);
      prompts.forEach((prompt, i) => (found[i] ??= fresh.get(prompt)));
    }
    return attachRequestId(found.flatMap((texts) => texts ?? []), requestId);
  }

  /**
   * Splits `prompts` into chunks of `batch_size` (default the client's `batchSize`), keeps
   * `concurrency` chunks in flight and returns the texts in input order. The first failed
   * chunk fails the call with a BatchSampleError naming its prompt indices (original error as
   * `cause`) and cancels the chunks still running.
   */
  async batchSample(prompts: string[], params: BatchSampleParams = {}, options: RequestOptions = {}): Promise<string[]> {
    this.#check();
    const { batch_size, ...sampling } = params;
    const size = batch_size ?? this.batchSize;
    if (!Number.isInteger(size) || size < 1) throw new SignalError(`batch_size must be a positive integer, got ${size}.`);
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const limit = pLimit(this.concurrency);
    const chunks: Array<Promise<string[]>> = [];
    for (let start = 0; start < prompts.length; start += size) {
      const end = Math.min(start + size, prompts.length);
      chunks.push(
        limit(async () => {
          if (stop.signal.aborted) return [];
          try {
            return await this.sample(prompts.slice(start, end), sampling, { ...options, signal });
          } catch (error) {
            if (stop.signal.aborted && !options.signal?.aborted) return [];
            stop.abort();
            throw options.signal?.aborted ? error : new BatchSampleError(start, end, error);
          }
        }),
      );
    }
    try {
      return (await Promise.all(chunks)).flat();
    } finally {
      stop.abort();
    }
  }

  /**
   * Streams the completion of one prompt as it is generated: `{ index, prompt_index, delta,
   * finish_reason }` chunks, the first before the rest exist. Breaking out of the loop aborts
   * the request; an error mid-stream throws the mapped APIError. Not cached.
   */
  streamSample(prompt: string, params: SampleParams = {}, options?: RequestOptions): AsyncIterable<SampleChunk> {
    this.#check();
    return sampleStream(this.#api, this.runId, { ...this.#withStep(params), prompts: [prompt] }, options);
  }

  /** One vector per input, in input order, from the pinned step (or the live weights). */
  async embeddings(inputs: string[], options?: RequestOptions): Promise<WithRequestId<number[][]>> {
    this.#check();
    const result = await embeddings(this.#api, this.runId, inputs, this.step, options);
    const vectors = [...result.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
    return attachRequestId(vectors, requestIdOf(result));
  }

  /**
   * Turns the per-prompt cache on (a no-op if it is on).
   * @throws SignalError when no `step` is pinned: live weights change with every optim_step, so a cached answer would go stale.
   */
  enableCache(options: CacheOptions = {}): void {
    if (this.step === undefined) {
      throw new SignalError(
        "enableCache needs a pinned checkpoint: create the client with { step } (live weights change with every optim_step, so cached samples would go stale).",
      );
    }
    this.#cache ??= new SampleCache(options);
  }

  /** Turns the cache off and drops it. */
  disableCache(): void {
    this.#cache = undefined;
  }

  /** Empties the cache and resets its counters; it stays on. */
  clearCache(): void {
    this.#cache?.clear();
  }

  getCacheStats(): CacheStats {
    return this.#cache?.stats(true) ?? { cache_size: 0, hits: 0, misses: 0, hit_rate: 0, enabled: false };
  }

  /** Refuses new calls; a standalone client also closes its pool (aborting what is in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) this.#api.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toJSON(): { runId: string; step: number | undefined; baseUrl: string } {
    return { runId: this.runId, step: this.step, baseUrl: this.#api.baseUrl };
  }

  [inspectSymbol](): string {
    return `${this.constructor.name} { runId: '${this.runId}', step: ${String(this.step)}, baseUrl: '${this.#api.baseUrl}' }`;
  }
}

function textsOf(result: SampleResult): string[] {
  return [...result.samples].sort((a, b) => a.index - b.index).map((s) => s.text);
}
