import type { SampleChunk, SampleResult } from "../generated/schema.js";
import type { Api } from "./internal/api.js";
import { APIPromise, type RawCall } from "./core/api-promise.js";
import { checkInteger } from "./internal/check-options.js";
import { warnDeprecated } from "./internal/deprecation.js";
import { BufferedResponse } from "./internal/lite-http.js";
import { callOperation, checkRequest } from "./internal/call-operation.js";
import { textsOf, vectorsOf } from "./internal/results.js";
import { type ChatMessage, isConversations } from "./chat.js";
import { sampleStream } from "./internal/sample-stream.js";
import { attachRequestId, type WithRequestId } from "./core/request-id.js";
import type { RequestOptions } from "./core/request-options.js";
import { inspectSymbol } from "./client-options.js";
import { BatchSampleError, SignalError } from "./errors.js";
import { SampleCache, type CacheOptions, type CacheStats } from "./sample-cache.js";
import type { Stream } from "./stream.js";
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

/**
 * `batchSample` parameters: the sampling parameters (wire fields, snake_case). The chunk size is
 * an SDK option and goes with the call's options: `batchSample(prompts, params, { batchSize })`.
 */
export type BatchSampleParams = SampleParams & {
  /**
   * @deprecated Pass `batchSize` in the options, the third argument. (A `batchSize` here still
   * works at run time, with a warning, but is not in the type: one object never mixes SDK options
   * with wire fields.)
   */
  batch_size?: number | undefined;
};

/** Options of one `batchSample` call: the request options plus the chunk size. */
export interface BatchSampleOptions extends RequestOptions {
  /** Prompts per request, a positive integer. @default the client's `batchSize` (32) */
  batchSize?: number | undefined;
}

/**
 * A result made of several responses (`batchSample`): `_request_ids` has each chunk's
 * `x-request-id` in input order (`undefined` for a chunk answered from the cache), and
 * `_request_id` is the first of them.
 */
export type WithRequestIds<T> = WithRequestId<T> & { readonly _request_ids?: ReadonlyArray<string | undefined> };

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
  /** Cacheable prompts whose request is in flight: an identical call waits for it instead of sending. */
  readonly #pending = new Map<string, Promise<string[]>>();
  #closed = false;

  /**
   * @internal Use `client.inference(runId)` or `new AsyncInferenceClient(...)`.
   * @throws SignalError when `batchSize` or `concurrency` is not a positive integer.
   */
  constructor(api: Api, runId: string, options: InferenceOptions & { ownsPool: boolean }) {
    checkInteger("batchSize", options.batchSize, 1);
    checkInteger("concurrency", options.concurrency, 1);
    checkInteger("step", options.step, 0);
    this.#api = api;
    this.runId = runId;
    this.step = options.step;
    this.batchSize = options.batchSize ?? 32;
    this.concurrency = options.concurrency ?? 4;
    this.#ownsPool = options.ownsPool;
  }

  #closedError(): SignalError | undefined {
    return this.#closed ? new SignalError(`InferenceClient for ${this.runId} is closed.`) : undefined;
  }

  #withStep(params: SampleParams): SampleParams {
    return params.step === undefined && this.step !== undefined ? { ...params, step: this.step } : params;
  }

  /**
   * The full wire response (`samples` with `prompt_index`, `finish_reason`, optional logprobs,
   * `usage`). Never cached.
   */
  sampleDetailed(prompts: string[] | ChatMessage[][], params: SampleParams = {}, options?: RequestOptions): APIPromise<SampleResult> {
    const closed = this.#closedError();
    if (closed) return APIPromise._rejected(closed);
    const sampling = { ...this.#withStep(params), stream: false };
    const body = isConversations(prompts) ? { ...sampling, messages: prompts } : { ...sampling, prompts };
    return callOperation(this.#api, "sample", { path: { run_id: this.runId }, body }, options);
  }

  /**
   * One text per completion, in order (`prompt_index * n + sample`). With the cache on, cached
   * prompts are answered locally, prompts an identical call is already asking for wait for its
   * answer, and only the rest are sent, in one request. `withResponse()` gives that request's
   * response (a local `x-signal-cache: hit` response when nothing was sent). Conversations (lists
   * of messages, rendered with the model's chat template) are never cached.
   * @throws ValidationError for bad parameters (nothing sent); BadRequestError when a prompt plus max_tokens exceeds the context, or naming the field of a bad conversation.
   */
  sample(prompts: string[] | ChatMessage[][], params: SampleParams = {}, options?: RequestOptions): APIPromise<string[]> {
    const cache = this.#cache;
    if (!cache || isConversations(prompts)) return this.sampleDetailed(prompts, params, options)._thenUnwrap(textsOf);
    const closed = this.#closedError();
    if (closed) return APIPromise._rejected(closed);
    const effective = this.#withStep(params);
    let texts: string[] = [];
    const raw = (async (): Promise<RawCall> => {
      // Checked before the cache key is made: a bad parameter is a ValidationError, never a raw schema error.
      checkRequest("sample", { path: { run_id: this.runId }, body: { ...effective, prompts } });
      const scope = cache.scope(this.runId, effective.step, effective);
      if (scope === undefined) {
        const call = this.sampleDetailed(prompts, effective, options);
        texts = textsOf(await call);
        return call._raw();
      }
      return this.#sampleCached(cache, scope, prompts, effective, options, (found) => (texts = found));
    })();
    return new APIPromise(raw, () => texts);
  }

  async #sampleCached(
    cache: SampleCache,
    scope: string,
    prompts: string[],
    params: SampleParams,
    options: RequestOptions | undefined,
    done: (texts: string[]) => void,
  ): Promise<RawCall> {
    const found: Array<string[] | Promise<string[]> | undefined> = prompts.map((prompt) => {
      const shared = this.#pending.get(scope + prompt);
      if (shared === undefined) return cache.get(scope, prompt);
      cache.countHit();
      return shared;
    });
    const misses = [...new Set(prompts.filter((_, i) => found[i] === undefined))];
    let rawCall: RawCall = localHit();
    if (misses.length > 0) {
      const call = this.sampleDetailed(misses, params, options);
      const n = params.n ?? 1;
      const answers = call.then((result) => {
        const all = textsOf(result);
        return new Map(misses.map((prompt, i) => [prompt, all.slice(i * n, (i + 1) * n)]));
      });
      for (const prompt of misses) {
        const key = scope + prompt;
        const one = answers.then((map) => map.get(prompt) ?? []);
        one.catch(noop);
        this.#pending.set(key, one);
        void answers.then((map) => cache.set(scope, prompt, map.get(prompt) ?? []), noop).finally(() => this.#pending.delete(key));
      }
      const fresh = await answers;
      rawCall = await call._raw();
      prompts.forEach((prompt, i) => (found[i] ??= fresh.get(prompt)));
    }
    const resolved = await Promise.all(found.map((texts) => texts ?? []));
    done(resolved.flat());
    return rawCall;
  }

  /**
   * Splits `prompts` into chunks of `batchSize` (default the client's), keeps `concurrency`
   * chunks in flight and returns the texts in input order, with each chunk's request id in
   * `_request_ids`. The first failed chunk fails the call with a BatchSampleError naming its
   * prompt indices (original error as `cause`) and cancels the chunks still running. With an
   * `idempotencyKey`, chunk `i` starting at prompt `start` sends `${idempotencyKey}:${start}`.
   * @throws SignalError when `batchSize` is not a positive integer.
   */
  async batchSample(prompts: string[], params: BatchSampleParams = {}, callOptions: BatchSampleOptions = {}): Promise<WithRequestIds<string[]>> {
    const closed = this.#closedError();
    if (closed) throw closed;
    const { batch_size, batchSize: inParams, ...sampling } = params as BatchSampleParams & { batchSize?: number | undefined };
    const { batchSize: inOptions, ...options } = callOptions;
    if (batch_size !== undefined) warnDeprecated(this.#api.logger, "batchSample(prompts, { batch_size })", "batchSample(prompts, params, { batchSize })");
    if (inParams !== undefined) warnDeprecated(this.#api.logger, "batchSample(prompts, { batchSize })", "batchSample(prompts, params, { batchSize })");
    const chosen = inOptions ?? inParams ?? batch_size;
    checkInteger("batchSize", chosen, 1);
    const size = chosen ?? this.batchSize;
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const starts: number[] = [];
    for (let start = 0; start < prompts.length; start += size) starts.push(start);
    const runChunk = async (start: number): Promise<WithRequestId<string[]>> => {
      const end = Math.min(start + size, prompts.length);
      // One key per chunk: the same key on a different body is a 409 `idempotency_key_reused`.
      const idempotencyKey = options.idempotencyKey === undefined ? undefined : `${options.idempotencyKey}:${start}`;
      if (stop.signal.aborted) return [];
      try {
        return await this.sample(prompts.slice(start, end), sampling, { ...options, signal, idempotencyKey });
      } catch (error) {
        if (stop.signal.aborted && !options.signal?.aborted) return [];
        stop.abort();
        // An abort or close() ends the whole call: it is not one chunk's failure.
        throw options.signal?.aborted || this.#api.pool.closed ? error : new BatchSampleError(start, end, error);
      }
    };
    // `concurrency` lanes, each taking the next chunk when its last one is answered.
    const results = new Array<WithRequestId<string[]>>(starts.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < starts.length) {
        const i = next++;
        results[i] = await runChunk(starts[i]!);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.concurrency, starts.length) }, lane));
      const ids = results.map((result) => result._request_id);
      const texts = attachRequestId(results.flat(), ids[0]);
      Object.defineProperty(texts, "_request_ids", { value: Object.freeze(ids), enumerable: false, configurable: true });
      return texts as WithRequestIds<string[]>;
    } finally {
      stop.abort();
    }
  }

  /**
   * Streams the completion of one prompt (a text, or a conversation) as it is generated: a `Stream` of `{ index,
   * prompt_index, delta, finish_reason }` chunks, the first before the rest exist. Leaving the
   * loop aborts the request; every failure is an SDK error (see `Stream`). Not cached.
   */
  streamSample(prompt: string | ChatMessage[], params: SampleParams = {}, options?: RequestOptions): Stream<SampleChunk> {
    const closed = this.#closedError();
    if (closed) throw closed;
    const sampling = this.#withStep(params);
    return sampleStream(this.#api, this.runId, typeof prompt === "string" ? { ...sampling, prompts: [prompt] } : { ...sampling, messages: [prompt] }, options);
  }

  /** One vector per input, in input order, from the pinned step (or the live weights). */
  embeddings(inputs: string[], options?: RequestOptions): APIPromise<number[][]> {
    const closed = this.#closedError();
    if (closed) return APIPromise._rejected(closed);
    const body = this.step === undefined ? { inputs } : { inputs, step: this.step };
    return callOperation(this.#api, "createEmbeddings", { path: { run_id: this.runId }, body }, options)._thenUnwrap(vectorsOf);
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
    const earlier = (options as { max_entries?: number }).max_entries;
    if (earlier !== undefined) warnDeprecated(this.#api.logger, "enableCache({ max_entries })", "{ maxEntries }");
    checkInteger("maxEntries", options.maxEntries ?? earlier, 1);
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

  /** Refuses new calls; a standalone client also closes its pool (settling what is in flight with APIConnectionError). Idempotent. */
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

function noop(): void {}

/** The response of a `sample` answered entirely from the cache: nothing was sent. */
function localHit(): RawCall {
  return { response: new BufferedResponse(new ArrayBuffer(0), 200, "OK", new Headers({ "x-signal-cache": "hit" }), ""), data: undefined, requestId: undefined };
}
