import { CompletionText } from "./completion-text.js";
import { type DecodeWeights, type KvCache, forwardInto, logitsInto } from "./decoder.js";
import { type PickOptions, pickToken } from "./pick-token.js";
import { topLogprobs } from "./token-logprob.js";
import { Rng } from "./rng.js";
import { BOS, EOS, PAD, encodeText } from "./tokenizer.js";
import { kvCacheBytes } from "./wasm/decode-kernels.js";
import {
  type Completion,
  DEFAULT_KV_BUDGET_BYTES,
  EngineError,
  type Prompt,
  type SampleParams,
  type SampleResult,
  type TokenEvent,
  type TopLogprob,
} from "./types.js";

/** Sampling defaults, as documented on `SampleParams`. */
export const SAMPLE_DEFAULTS: SampleParams = {
  max_tokens: 64,
  temperature: 1,
  top_p: 1,
  top_k: 0,
  stop: [],
  n: 1,
  logprobs: false,
};

/** What both samplers (the byte models' and a checkpoint's) keep of one sequence, to report it. */
export interface SequenceReport {
  index: number;
  promptIndex: number;
  text: CompletionText;
  tokens: number[];
  logprobs: number[];
  /** Each generated position's most likely tokens (when logprobs and top_logprobs are asked for). */
  tops: TopLogprob[][];
  /** Where each token's text starts in the completion's text (`SampledToken.offset`). */
  offsets: number[];
  finish: "stop" | "length" | undefined;
}

/** What a sampling step chose for a sequence: the token, its logprob and top list, and where its text starts. */
export interface SampledToken {
  token: number;
  logprob: number;
  tops: TopLogprob[] | undefined;
  offset: number;
}

/**
 * The event of one step of `sequence`: its text delta and, when asked for, the logprobs of the
 * token it added (`undefined` for a stop token, which the completion does not contain).
 */
export function tokenEvent(sequence: SequenceReport, delta: string, p: SampleParams, sampled: SampledToken | undefined): TokenEvent {
  return {
    index: sequence.index,
    prompt_index: sequence.promptIndex,
    delta,
    finish_reason: sequence.finish ?? null,
    ...(p.logprobs && sampled ? { logprob: sampled.logprob, token: sampled.token, text_offset: sampled.offset } : {}),
    ...(sampled?.tops ? { top_logprobs: sampled.tops } : {}),
  };
}

/**
 * Records a generated token (not a stop token) on its sequence: its id, logprob, top list and
 * where its text starts, taken before its text is added. @returns what its event reports.
 */
export function recordToken(sequence: SequenceReport, token: number, logprob: number, tops: TopLogprob[] | undefined): SampledToken {
  const sampled = { token, logprob, tops, offset: sequence.text.length };
  sequence.tokens.push(token);
  sequence.logprobs.push(logprob);
  sequence.offsets.push(sampled.offset);
  if (tops) sequence.tops.push(tops);
  return sampled;
}

/**
 * The prompts of a request to prefill this round, from `first`: while their sequences' KV-cache
 * bytes (`bytesOf(i)`: all `n` sequences of prompt `i`) fit in `free` and their rows in `rows`
 * (the first prompt's rows always do). `last === first` when not even the first one's fit.
 */
export function promptsThatFit(
  prompts: readonly (readonly number[])[],
  first: number,
  free: number,
  rows: number,
  bytesOf: (i: number) => number,
): { last: number; rows: number } {
  let last = first;
  let bytes = 0;
  let taken = 0;
  while (last < prompts.length) {
    const more = bytesOf(last);
    const length = prompts[last]!.length;
    if (bytes + more > free || (last > first && taken + length > rows)) break;
    bytes += more;
    taken += length;
    last++;
  }
  return { last, rows: taken };
}

/** The result of a finished request: its completions and token counts (`encoded`: each prompt's tokens). */
export function sampleResult(sequences: readonly SequenceReport[], encoded: readonly number[][], p: SampleParams): SampleResult {
  const completions: Completion[] = sequences.map((l) => ({
    index: l.index,
    prompt_index: l.promptIndex,
    text: l.text.text ?? "",
    tokens: l.tokens,
    ...(p.logprobs ? { logprobs: l.logprobs, text_offsets: l.offsets } : {}),
    ...(p.logprobs && p.top_logprobs ? { top_logprobs: l.tops } : {}),
    finish_reason: l.finish!,
  }));
  return {
    completions,
    prompt_tokens: encoded.reduce((a, t) => a + t.length, 0) * p.n,
    completion_tokens: sequences.reduce((a, l) => a + l.tokens.length, 0),
  };
}

/** Hooks of one sampling call. */
export interface SampleHooks {
  /** Called for every sampled token (delta may be "" while text is held back). */
  onToken?: (event: TokenEvent) => void;
  /** Polled between decoding steps; true stops the call with EngineError `aborted`. */
  isAborted?: () => boolean;
  /** Polled every round; while true the request's sequences sit out (no tokens, no progress). */
  isPaused?: () => boolean;
}

/** How a submitted request ends: exactly one of the two, once. */
export type SampleDone = (error: Error | undefined, result: SampleResult | undefined) => void;

/** The ids the byte models' normaliser leaves out (never sampled, no logprob). */
const NEVER_SAMPLED: readonly number[] = [BOS, PAD];

/** Rows per round of prefill (several prompts share one forward pass). */
const PREFILL_ROWS = 2048;

/** A sequence being generated: what it reports, and how it goes on. */
interface Live extends SequenceReport {
  job: Job;
  cache: KvCache;
  rng: Rng;
  next: number;
}

interface Job {
  w: DecodeWeights;
  p: SampleParams;
  opts: PickOptions;
  seed: number;
  hooks: SampleHooks;
  done: SampleDone;
  encoded: number[][];
  /** Prompts prefilled so far (prefill may take several rounds). */
  prefilled: number;
  live: Live[];
  /** Sequences of this job still decoding. */
  running: number;
  ended: boolean;
}

/**
 * Continuous batching of sample requests on one thread. Every sequence being decoded with the
 * same weights (one run's live weights at one step, or one adapter) goes through each decoding
 * step together: one forward pass, one matmul per projection, whatever request it belongs to. A
 * request submitted while others decode is prefilled at the start of the next round and joins
 * them; a sequence that finishes leaves at once, and a request answers as soon as its own
 * sequences are done. Each sequence's randomness comes from `Rng(seed, sampleIndex)` and its
 * arithmetic only from its own tokens (matmul rows are independent, see decoder.ts), so a seeded
 * request's output is bit-identical whatever it is batched with.
 *
 * KV-cache memory is bounded: the sequences decoding at once hold at most `kvBudgetBytes` of
 * caches (`kvCacheBytes` each). A prompt is prefilled only when its `n` sequences fit, so
 * a large request runs in waves, its later prompts starting as earlier sequences finish (oldest
 * request first); by batch independence its seeded output is the same whatever the waves. A
 * request whose `n` sequences of one prompt can never fit is refused when submitted.
 *
 * `step()` runs one round; the owner calls it again while it returns true (the worker between
 * messages, so requests join between steps; `sampleLoop` in a plain loop).
 */
export class SampleBatcher {
  private fresh: Job[] = [];
  private jobs: Job[] = [];
  /** Decoding sequences by weights; a Map keeps groups in the order they appeared. */
  private readonly groups = new Map<DecodeWeights, Live[]>();

  /** Requests not yet answered. */
  get pending(): number {
    return this.jobs.length;
  }

  /**
   * True when the last round could do nothing though requests remain: every one is paused, or
   * waits for KV-cache memory that paused ones hold. The owner may wait a little before the next.
   */
  paused = false;
  #pausedJobs = new Set<Job>();
  /** KV-cache bytes held by the sequences of this batcher now, and the most ever held. */
  kvBytes = 0;
  kvPeakBytes = 0;
  #progressed = false;

  constructor(readonly kvBudgetBytes: number = DEFAULT_KV_BUDGET_BYTES) {}

  /**
   * Validates and queues a request; `done` is called from a later `step()`. Holds `w` (see
   * `DecodeWeights.retain`) until the request ends.
   * @throws EngineError `context_length_exceeded` (param `prompts[i]`) when BOS + prompt +
   *   max_tokens exceeds the context, before anything is queued.
   */
  submit(w: DecodeWeights, prompts: Prompt[], partial: Partial<SampleParams>, hooks: SampleHooks, done: SampleDone): void {
    const p: SampleParams = { ...SAMPLE_DEFAULTS, ...stripUndefined(partial) };
    const encoded = encodeSamplePrompts(prompts, p.max_tokens, w.config.context_length);
    const perPrompt = p.n * kvCacheBytes(w.config);
    if (perPrompt > this.kvBudgetBytes) {
      throw new EngineError(
        "sample_too_large",
        `n is ${p.n}: the ${p.n} sequences of one prompt need ${mib(perPrompt)} of KV cache on ${w.config.id}, more than the engine's budget of ${mib(this.kvBudgetBytes)} (${Math.floor(this.kvBudgetBytes / kvCacheBytes(w.config))} sequences); ask for fewer samples per prompt`,
        "n",
      );
    }
    const seed = p.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
    w.retain();
    const job: Job = {
      w,
      p,
      opts: { temperature: p.temperature, topP: p.top_p, topK: p.top_k },
      seed,
      hooks,
      done,
      encoded,
      prefilled: 0,
      live: [],
      running: 0,
      ended: false,
    };
    this.jobs.push(job);
    this.fresh.push(job);
  }

  /**
   * One round: drops aborted requests, prefills up to ~2048 rows of queued prompts (oldest
   * first, at least one prompt), then runs one decoding step per group of weights.
   * @returns whether work remains.
   */
  step(): boolean {
    for (const job of this.jobs) {
      if (job.hooks.isAborted?.()) this.end(job, new EngineError("aborted", "sampling was aborted"));
    }
    this.#pausedJobs = new Set(this.jobs.filter((j) => !j.ended && j.hooks.isPaused?.() === true));
    this.#progressed = false;
    this.prefillRound();
    for (const [w, group] of this.groups) {
      if (group.length === 0) {
        this.groups.delete(w);
        continue;
      }
      try {
        this.decodeStep(w, group);
      } catch (e) {
        for (const job of new Set(group.map((l) => l.job))) this.end(job, toError(e));
      }
    }
    this.jobs = this.jobs.filter((j) => !j.ended);
    this.paused = !this.#progressed && this.jobs.length > 0;
    return this.jobs.length > 0;
  }

  /** Ends every request with `error` (e.g. the engine shutting down). */
  failAll(error: Error): void {
    for (const job of this.jobs) this.end(job, error);
    this.jobs = [];
  }

  private prefillRound(): void {
    let budget = PREFILL_ROWS;
    this.fresh = this.fresh.filter((j) => !j.ended);
    while (budget > 0) {
      const job = this.fresh.find((j) => !j.ended && !this.#pausedJobs.has(j));
      if (!job) break;
      // The oldest request waits for KV memory rather than being overtaken (no starvation).
      const perPrompt = job.p.n * kvCacheBytes(job.w.config);
      const first = job.prefilled;
      const fit = promptsThatFit(job.encoded, first, this.kvBudgetBytes - this.kvBytes, budget, () => perPrompt);
      if (fit.last === first) break;
      try {
        this.prefill(job, first, fit.last);
      } catch (e) {
        this.end(job, toError(e));
      }
      budget -= fit.rows;
      if (job.prefilled === job.encoded.length || job.ended) this.fresh.splice(this.fresh.indexOf(job), 1);
    }
  }

  /** Prefills prompts `[first, last)` of `job` in one forward pass and picks their first tokens. */
  private prefill(job: Job, first: number, last: number): void {
    const { w, p } = job;
    const chunk = job.encoded.slice(first, last);
    const caches = chunk.map(() => this.acquire(w));
    this.#progressed = true;
    // The copies for n > 1 are allocated now: growing the heap later would detach `logits`.
    w.shared.kvPool.reserve(chunk.length * (p.n - 1));
    let logits: Float32Array;
    try {
      const lastRows: number[] = [];
      let end = 0;
      for (const tokens of chunk) lastRows.push((end += tokens.length) - 1);
      logits = logitsInto(w, forwardInto(w, caches, chunk, lastRows));
    } catch (e) {
      for (const c of caches) this.release(w, c);
      throw e;
    }
    job.prefilled = last;
    const V = w.config.vocab_size;
    const group = this.groupOf(w);
    chunk.forEach((_, i) => {
      const promptIndex = first + i;
      const cache = caches[i]!;
      for (let s = 0; s < p.n; s++) {
        const l: Live = {
          job,
          index: promptIndex * p.n + s,
          promptIndex,
          cache: s === p.n - 1 ? cache : this.acquire(w, cache),
          rng: new Rng(job.seed, s),
          text: new CompletionText(p.stop),
          tokens: [],
          logprobs: [],
          tops: [],
          offsets: [],
          next: 0,
          finish: p.max_tokens === 0 ? "length" : undefined,
        };
        job.live.push(l);
        if (!l.finish) this.pick(l, logits.subarray(i * V, (i + 1) * V));
        if (l.finish) this.release(w, l.cache);
        else {
          job.running++;
          group.push(l);
        }
      }
    });
    this.maybeFinish(job);
  }

  private decodeStep(w: DecodeWeights, all: Live[]): void {
    // Paused requests' sequences keep their place (and caches) but sit this step out.
    const group = this.#pausedJobs.size === 0 ? all : all.filter((l) => !this.#pausedJobs.has(l.job));
    if (group.length === 0) return;
    this.#progressed = true;
    const caches = group.map((l) => l.cache);
    const tokens = group.map((l) => [l.next]);
    const rows = forwardInto(w, caches, tokens);
    const logits = logitsInto(w, rows);
    const V = w.config.vocab_size;
    const finished = new Set<Job>();
    for (let i = 0; i < group.length; i++) {
      const l = group[i]!;
      this.pick(l, logits.subarray(i * V, (i + 1) * V));
      if (l.finish) {
        this.release(w, l.cache);
        l.job.running--;
        finished.add(l.job);
      }
    }
    let kept = 0;
    for (const l of all) if (!l.finish) all[kept++] = l;
    all.length = kept;
    for (const job of finished) this.maybeFinish(job);
  }

  /** A KV cache from the pool (a copy of `of`, if given), counted against the budget. */
  private acquire(w: DecodeWeights, of?: KvCache): KvCache {
    const pool = w.shared.kvPool;
    const cache = of ? pool.copyOf(of) : pool.acquire();
    this.kvBytes += kvCacheBytes(w.config);
    this.kvPeakBytes = Math.max(this.kvPeakBytes, this.kvBytes);
    return cache;
  }

  private release(w: DecodeWeights, cache: KvCache): void {
    w.shared.kvPool.release(cache);
    this.kvBytes -= kvCacheBytes(w.config);
  }

  private groupOf(w: DecodeWeights): Live[] {
    let g = this.groups.get(w);
    if (!g) this.groups.set(w, (g = []));
    return g;
  }

  private pick(l: Live, logits: Float32Array): void {
    const { p, hooks } = l.job;
    const { token, logprob, logZ } = pickToken(logits, l.job.opts, l.rng, l.job.w.shared.scratch.logitSums);
    // Over the tokens the normaliser counts (all but BOS and PAD), as the logprob itself.
    const tops = p.logprobs && p.top_logprobs ? topLogprobs(logits, logZ, p.top_logprobs, NEVER_SAMPLED) : undefined;
    let delta: string;
    let sampled: SampledToken | undefined;
    if (token === EOS || p.stop_token_ids?.includes(token)) {
      delta = l.text.finish().delta;
      l.finish = "stop";
    } else {
      sampled = recordToken(l, token, logprob, tops);
      const r = l.text.push(token);
      delta = r.delta;
      if (r.stopped) {
        l.finish = "stop";
      } else if (l.tokens.length >= p.max_tokens) {
        delta += l.text.finish().delta;
        l.finish = "length";
      }
    }
    l.next = token;
    hooks.onToken?.(tokenEvent(l, delta, p, sampled));
  }

  private maybeFinish(job: Job): void {
    if (job.ended || job.running > 0 || job.prefilled < job.encoded.length) return;
    this.end(job, undefined, sampleResult(job.live, job.encoded, job.p));
  }

  /** Ends `job` once: its sequences leave their group, their caches go back to the pool. */
  private end(job: Job, error: Error | undefined, result?: SampleResult): void {
    if (job.ended) return;
    job.ended = true;
    if (job.running > 0) {
      const group = this.groups.get(job.w);
      if (group) {
        let kept = 0;
        for (const l of group) {
          if (l.job === job) this.release(job.w, l.cache);
          else group[kept++] = l;
        }
        group.length = kept;
      }
      job.running = 0;
    }
    job.w.release();
    job.done(error, result);
  }
}

/**
 * Samples `n` completions for each prompt, on the calling thread (one request in its own
 * batcher). See `SampleBatcher` for batch independence.
 * @throws EngineError `context_length_exceeded` (param `prompts[i]`) when BOS + prompt +
 *   max_tokens exceeds the context; `aborted` when `isAborted` turns true.
 */
export function sampleLoop(
  w: DecodeWeights,
  prompts: Prompt[],
  partial: Partial<SampleParams>,
  hooks: SampleHooks = {},
  kvBudgetBytes = DEFAULT_KV_BUDGET_BYTES,
): SampleResult {
  const batcher = new SampleBatcher(kvBudgetBytes);
  let outcome: { error: Error | undefined; result: SampleResult | undefined } | undefined;
  batcher.submit(w, prompts, partial, hooks, (error, result) => (outcome = { error, result }));
  while (batcher.step());
  if (!outcome) throw new Error("sampling ended without an answer");
  if (outcome.error) throw outcome.error;
  return outcome.result!;
}

function mib(bytes: number): string {
  return `${Number((bytes / 2 ** 20).toFixed(2))} MiB`;
}

/** A thrown value as an Error. */
export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The prompts' tokens, each checked to leave room for `maxTokens` in the context.
 * @throws EngineError `context_length_exceeded` (param `prompts[i]`) when BOS + prompt +
 *   max_tokens exceeds the context.
 */
export function encodeSamplePrompts(prompts: Prompt[], maxTokens: number, contextLength: number): number[][] {
  return prompts.map((text, i) => {
    const tokens = encodePrompt(text);
    if (tokens.length + maxTokens > contextLength) {
      throw new EngineError(
        "context_length_exceeded",
        `prompts[${i}] is ${tokens.length} tokens${typeof text === "string" ? " (with BOS)" : ""} and max_tokens is ${maxTokens}: ${tokens.length + maxTokens} exceeds the model's context length of ${contextLength}`,
        `prompts[${i}]`,
      );
    }
    return tokens;
  });
}

/** A text prompt's tokens (BOS first); token prompts are used as given. */
export function encodePrompt(prompt: Prompt): number[] {
  return typeof prompt === "string" ? [BOS, ...encodeText(prompt)] : prompt;
}
