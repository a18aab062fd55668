import type { Tensor2D } from "@tensorflow/tfjs";
import { CompletionText } from "../completion-text.js";
import { type TokenCodec, encodeWithBos } from "../codec.js";
import { FullLogitSums, fullNormalizer, pickToken, type PickOptions } from "../pick-token.js";
import { Rng } from "../rng.js";
import {
  SAMPLE_DEFAULTS,
  type SampleDone,
  type SampleHooks,
  type SampledToken,
  type SequenceReport,
  promptsThatFit,
  recordToken,
  sampleResult,
  toError,
  tokenEvent,
} from "../sample-loop.js";
import { DEFAULT_KV_BUDGET_BYTES, EngineError, type Prompt, type SampleParams, type SampleResult, type TopLogprob } from "../types.js";
import { FastKvCache, type FastLora, type HfFastModel } from "./hf-fast-model.js";
import { HfKvCache, type HfLoraTensors, type HfModel } from "./hf-model.js";
import { hfEmbeddings, hfLogprobs } from "./hf-train.js";
import { topLogprobs } from "../token-logprob.js";

/** A checkpoint's weights on one of the engine's two paths: tfjs tensors, or the fast path's arrays. */
type HfPath = { kind: "tfjs"; model: HfModel; lora: HfLoraTensors | undefined } | { kind: "fast"; model: HfFastModel; lora: FastLora | undefined };

/** A sequence's KV cache on either path. */
type HfCache = HfKvCache | FastKvCache;

/**
 * The weights one sampling request reads: a checkpoint and a run's or adapter's LoRA tensors at
 * one moment. A run's next optimizer step makes new ones; requests decoding keep theirs until
 * they end (`retain`/`release`), then `dispose` frees the LoRA tensors.
 */
export class HfWeights {
  private users = 0;
  private retired = false;

  constructor(readonly path: HfPath) {}

  get spec() {
    return this.path.model.spec;
  }

  get codec(): TokenCodec {
    return this.path.model.checkpoint.codec;
  }

  get contextLength(): number {
    return this.path.model.checkpoint.info.context_length;
  }

  newCache(): HfCache {
    const { layers, kvHeads, headDim } = this.spec;
    return this.path.kind === "tfjs" ? new HfKvCache(layers) : new FastKvCache(layers, kvHeads * headDim);
  }

  fork(cache: HfCache): HfCache {
    return cache instanceof HfKvCache ? cache.fork((this.path.model as HfModel).tf) : cache.fork();
  }

  /** Extends each cache by its tokens; the logits of each sequence's last new row, `[seqs, vocab]`. */
  lastRowLogits(seqs: { cache: HfCache; tokens: readonly number[] }[]): Float32Array {
    const p = this.path;
    if (p.kind === "tfjs") return lastRowLogits(p.model, p.lora, seqs as { cache: HfKvCache; tokens: readonly number[] }[]);
    const d = p.model.spec.hidden;
    const hidden = p.model.extend(seqs as { cache: FastKvCache; tokens: readonly number[] }[], p.lora);
    const last = new Float32Array(seqs.length * d);
    let end = 0;
    seqs.forEach((s, i) => {
      end += s.tokens.length;
      last.set(hidden.subarray((end - 1) * d, end * d), i * d);
    });
    return p.model.logits(last, seqs.length);
  }

  /**
   * Per-token log-probabilities of each sequence (position 0 null), as `hfLogprobs`; with `hits`,
   * also whether each token was the most likely one (for token accuracy); with `top`, each
   * position's `top.k` most likely tokens.
   */
  logprobs(sequences: readonly number[][], hits?: boolean[][], top?: { k: number; out: (TopLogprob[] | null)[][] }): (number | null)[][] {
    const p = this.path;
    if (p.kind === "tfjs") return hfLogprobs(p.model, p.lora, sequences, hits, top);
    const V = p.model.spec.vocab;
    return sequences.map((tokens) => {
      const cache = this.newCache() as FastKvCache;
      const hidden = p.model.extend([{ cache, tokens }], p.lora);
      const logits = p.model.logits(hidden, tokens.length);
      const lp: (number | null)[] = [null];
      const hit: boolean[] = [false];
      const tops: (TopLogprob[] | null)[] = [null];
      for (let t = 1; t < tokens.length; t++) {
        const row = logits.subarray((t - 1) * V, t * V);
        const n = fullNormalizer(row);
        lp.push(logits[(t - 1) * V + tokens[t]!]! - n.logZ);
        hit.push(n.argmax === tokens[t]);
        if (top) tops.push(topLogprobs(row, n.logZ, top.k));
      }
      hits?.push(hit);
      top?.out.push(tops);
      return lp;
    });
  }

  /** Mean over positions of the final-normed hidden states, as `hfEmbeddings`. */
  embeddings(sequences: readonly number[][]): number[][] {
    const p = this.path;
    if (p.kind === "tfjs") return hfEmbeddings(p.model, p.lora, sequences);
    const d = p.model.spec.hidden;
    return sequences.map((tokens) => {
      const h = p.model.extend([{ cache: this.newCache() as FastKvCache, tokens }], p.lora);
      const v = new Array<number>(d).fill(0);
      for (let t = 0; t < tokens.length; t++) for (let j = 0; j < d; j++) v[j]! += h[t * d + j]!;
      return v.map((x) => x / tokens.length);
    });
  }

  retain(): void {
    this.users++;
  }

  release(): void {
    this.users--;
    if (this.retired && this.users === 0) this.free();
  }

  dispose(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.users === 0) this.free();
  }

  private free(): void {
    if (this.path.kind !== "tfjs") return;
    for (const [a, b] of this.path.lora?.pairs.values() ?? []) {
      a.dispose();
      b.dispose();
    }
  }
}

/** A sequence being generated: what it reports, and how it goes on. */
interface Live extends SequenceReport {
  job: Job;
  cache: HfCache;
  rng: Rng;
  /** Text of `tokens` decoded so far (whole characters). */
  decoded: string;
  next: number;
  /** KV-cache bytes counted for it against the budget until it finishes (its prompt and max_tokens). */
  reserved: number;
}

interface Job {
  w: HfWeights;
  p: SampleParams;
  opts: PickOptions;
  seed: number;
  hooks: SampleHooks;
  done: SampleDone;
  encoded: number[][];
  /** Prompts prefilled so far (they are prefilled in order, in waves that fit the KV budget). */
  prefilled: number;
  live: Live[];
  running: number;
  ended: boolean;
}

const sums = new FullLogitSums();

/**
 * Continuous batching of sample requests on a checkpoint model, one thread: the same contract
 * as the built-in models' `SampleBatcher` (hooks, seeds per sequence, stop strings held back,
 * requests joining between rounds). Each round prefills the new requests' prompts, then runs one
 * decoding step for every sequence on the same weights together: one matmul per projection for
 * all of them, attention per sequence over its own KV cache. Sampling stops at the model's EOS
 * ids; log-probabilities are over every row of the LM head.
 *
 * KV-cache memory is bounded as there: a prompt is prefilled only when its `n` sequences fit
 * `kvBudgetBytes`, each counted for its prompt and `max_tokens` (a checkpoint's caches grow token
 * by token), so a large request runs in waves, its later prompts starting as earlier sequences
 * finish, oldest request first.
 */
export class HfSampler {
  private jobs: Job[] = [];

  /**
   * @param kvBudgetBytes the most KV cache the sequences decoding at once may need, each counted
   *   for its prompt and `max_tokens`: a request past it runs in waves of prompts, and one whose
   *   single prompt's `n` sequences need more is refused.
   */
  constructor(readonly kvBudgetBytes: number = DEFAULT_KV_BUDGET_BYTES) {}

  paused = false;
  #progressed = false;
  /** KV-cache bytes counted for the sequences decoding now, and the most ever counted. */
  kvBytes = 0;
  kvPeakBytes = 0;

  get pending(): number {
    return this.jobs.length;
  }

  /**
   * Validates and queues a request.
   * @throws EngineError `context_length_exceeded` (param `prompts[i]`), `invalid_example` for a
   *   token prompt with an id outside the vocabulary, before anything is queued.
   */
  submit(w: HfWeights, prompts: Prompt[], partial: Partial<SampleParams>, hooks: SampleHooks, done: SampleDone): void {
    const p: SampleParams = { ...SAMPLE_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
    const encoded = prompts.map((prompt, i) => encodeSamplePrompt(w.codec, prompt, i, p.max_tokens, w.contextLength));
    const longest = Math.max(...encoded.map((t) => t.length)) + p.max_tokens;
    const perPrompt = p.n * kvBytesPerToken(w) * longest;
    if (perPrompt > this.kvBudgetBytes) {
      throw new EngineError(
        "sample_too_large",
        `n is ${p.n}: the ${p.n} sequences of one prompt need ${(perPrompt / 2 ** 20).toFixed(2)} MiB of KV cache on this model, more than the engine's budget of ${(this.kvBudgetBytes / 2 ** 20).toFixed(2)} MiB; ask for fewer samples per prompt or fewer tokens`,
        "n",
      );
    }
    const seed = p.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
    w.retain();
    this.jobs.push({
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
    });
  }

  step(): boolean {
    for (const job of this.jobs) if (job.hooks.isAborted?.()) this.end(job, new EngineError("aborted", "sampling was aborted"));
    const paused = new Set(this.jobs.filter((j) => !j.ended && j.hooks.isPaused?.() === true));
    this.#progressed = false;
    this.prefillRound(paused);
    const groups = new Map<HfWeights, Live[]>();
    for (const job of this.jobs) {
      if (job.ended || paused.has(job)) continue;
      for (const l of job.live) if (!l.finish) (groups.get(job.w) ?? groups.set(job.w, []).get(job.w)!).push(l);
    }
    for (const [w, group] of groups) {
      try {
        this.decode(w, group);
      } catch (e) {
        for (const job of new Set(group.map((l) => l.job))) this.end(job, toError(e));
      }
    }
    this.jobs = this.jobs.filter((j) => !j.ended);
    this.paused = !this.#progressed && this.jobs.length > 0;
    return this.jobs.length > 0;
  }

  failAll(error: Error): void {
    for (const job of this.jobs) this.end(job, error);
    this.jobs = [];
  }

  /**
   * Prefills the prompts that fit: requests oldest first, each's prompts in order, while the
   * KV budget has room for a prompt's `n` sequences and the round has rows left (at least one
   * prompt). A request whose next prompt does not fit waits for sequences to finish, and no
   * younger request overtakes it.
   */
  private prefillRound(paused: ReadonlySet<Job>): void {
    let rows = PREFILL_ROWS;
    for (const job of this.jobs) {
      if (job.ended || paused.has(job) || job.prefilled === job.encoded.length) continue;
      const first = job.prefilled;
      const fit = promptsThatFit(job.encoded, first, this.kvBudgetBytes - this.kvBytes, rows, (i) => job.p.n * sequenceBytes(job, i));
      if (fit.last === first) return;
      try {
        this.prefill(job, first, fit.last);
      } catch (e) {
        this.end(job, toError(e));
      }
      rows -= fit.rows;
      if (rows <= 0 || (!job.ended && job.prefilled < job.encoded.length)) return;
    }
  }

  /** Prefills prompts `[first, last)` of `job` in one forward pass and picks their first tokens. */
  private prefill(job: Job, first: number, last: number): void {
    const { w, p } = job;
    this.#progressed = true;
    const chunk = job.encoded.slice(first, last);
    const caches = chunk.map(() => w.newCache());
    let logits: Float32Array;
    try {
      logits = this.lastLogits(
        w,
        chunk.map((tokens, i) => ({ cache: caches[i]!, tokens })),
      );
    } catch (e) {
      for (const c of caches) c.dispose();
      throw e;
    }
    job.prefilled = last;
    const V = w.spec.vocab;
    chunk.forEach((_, i) => {
      const promptIndex = first + i;
      const reserved = sequenceBytes(job, promptIndex);
      for (let s = 0; s < p.n; s++) {
        const l: Live = {
          job,
          index: promptIndex * p.n + s,
          promptIndex,
          cache: s === p.n - 1 ? caches[i]! : w.fork(caches[i]!),
          rng: new Rng(job.seed, s),
          text: new CompletionText(p.stop),
          decoded: "",
          tokens: [],
          logprobs: [],
          tops: [],
          offsets: [],
          next: 0,
          finish: p.max_tokens === 0 ? "length" : undefined,
          reserved,
        };
        job.live.push(l);
        this.kvBytes += reserved;
        if (!l.finish) this.pick(l, logits.subarray(i * V, (i + 1) * V));
        if (l.finish) this.release(l);
        else job.running++;
      }
    });
    this.kvPeakBytes = Math.max(this.kvPeakBytes, this.kvBytes);
    this.maybeFinish(job);
  }

  /** Frees a finished (or abandoned) sequence's cache and its share of the budget. */
  private release(l: Live): void {
    l.cache.dispose();
    this.kvBytes -= l.reserved;
  }

  private decode(w: HfWeights, group: Live[]): void {
    this.#progressed = true;
    const logits = this.lastLogits(
      w,
      group.map((l) => ({ cache: l.cache, tokens: [l.next] })),
    );
    const V = w.spec.vocab;
    const finished = new Set<Job>();
    group.forEach((l, i) => {
      this.pick(l, logits.subarray(i * V, (i + 1) * V));
      if (l.finish) {
        this.release(l);
        l.job.running--;
        finished.add(l.job);
      }
    });
    for (const job of finished) this.maybeFinish(job);
  }

  /** Extends each cache by its tokens; the logits of each sequence's last new row, `[seqs, vocab]`. */
  private lastLogits(w: HfWeights, seqs: { cache: HfCache; tokens: readonly number[] }[]): Float32Array {
    return w.lastRowLogits(seqs);
  }

  private pick(l: Live, logits: Float32Array): void {
    const { p, hooks, w } = l.job;
    const { token, logprob, logZ } = pickToken(logits, l.job.opts, l.rng, sums, w.codec.neverSampled);
    // Over every row of the LM head, as the logprob itself.
    const tops = p.logprobs && p.top_logprobs ? topLogprobs(logits, logZ, p.top_logprobs) : undefined;
    let delta: string;
    let sampled: SampledToken | undefined;
    if (w.codec.stopIds.includes(token) || p.stop_token_ids?.includes(token)) {
      delta = l.text.finish().delta;
      l.finish = "stop";
    } else {
      sampled = recordToken(l, token, logprob, tops);
      const full = w.codec.decode(l.tokens);
      // A byte-fallback token may end mid-character: wait for the rest.
      let r = { delta: "", stopped: false };
      if (!full.endsWith("\uFFFD") && full.startsWith(l.decoded)) {
        r = l.text.pushText(full.slice(l.decoded.length));
        l.decoded = full;
      }
      delta = r.delta;
      if (r.stopped) l.finish = "stop";
      else if (l.tokens.length >= p.max_tokens) {
        // Whatever was held for a character still incomplete goes out now (as U+FFFD), then the rest.
        if (full !== l.decoded && full.startsWith(l.decoded)) delta += l.text.pushText(full.slice(l.decoded.length)).delta;
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

  private end(job: Job, error: Error | undefined, result?: SampleResult): void {
    if (job.ended) return;
    job.ended = true;
    for (const l of job.live) if (!l.finish) this.release(l);
    job.running = 0;
    job.w.release();
    job.done(error, result);
  }
}

/** Prompt rows prefilled per round at most (several prompts share one forward pass; at least one prompt). */
const PREFILL_ROWS = 2048;

/** KV-cache bytes one token of one sequence holds on `w`'s model (keys and values of every layer, float32). */
function kvBytesPerToken(w: HfWeights): number {
  const { layers, kvHeads, headDim } = w.spec;
  return layers * 2 * kvHeads * headDim * 4;
}

/** What one sequence of `job`'s prompt `i` is counted for: its prompt and `max_tokens`. */
function sequenceBytes(job: Job, i: number): number {
  return kvBytesPerToken(job.w) * (job.encoded[i]!.length + job.p.max_tokens);
}

/** Logits of each sequence's last new row after extending its cache, `[seqs, vocab]`. */
function lastRowLogits(model: HfModel, lora: HfLoraTensors | undefined, seqs: { cache: HfKvCache; tokens: readonly number[] }[]): Float32Array {
  const tf = model.tf;
  const hidden = model.extend(seqs, lora);
  const logits = tf.tidy(() => {
    const rows: number[] = [];
    let end = 0;
    for (const s of seqs) rows.push((end += s.tokens.length) - 1);
    return model.logits(tf.gather(hidden, tf.tensor1d(rows, "int32")) as Tensor2D);
  });
  hidden.dispose();
  const data = logits.dataSync() as Float32Array;
  logits.dispose();
  return data;
}

/**
 * A prompt's tokens: text gets the model's BOS (when it has one); token ids are used as given.
 * @throws EngineError `invalid_example` for an empty prompt or an id outside the vocabulary,
 *   `context_length_exceeded` when prompt + max_tokens exceeds the context.
 */
export function encodeSamplePrompt(codec: TokenCodec, prompt: Prompt, i: number, maxTokens: number, contextLength: number): number[] {
  let tokens: number[];
  if (typeof prompt === "string") tokens = encodeWithBos(codec, prompt);
  else {
    const bad = prompt.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codec.vocabSize);
    if (bad >= 0)
      throw new EngineError(
        "invalid_example",
        `prompts[${i}][${bad}] is ${String(prompt[bad])}; token ids are integers in [0, ${codec.vocabSize})`,
        `prompts[${i}][${bad}]`,
      );
    tokens = prompt;
  }
  if (tokens.length === 0) throw new EngineError("invalid_example", `prompts[${i}] holds no token (this model adds no BOS to text)`, `prompts[${i}]`);
  if (tokens.length + maxTokens > contextLength) {
    throw new EngineError(
      "context_length_exceeded",
      `prompts[${i}] is ${tokens.length} tokens and max_tokens is ${maxTokens}: ${tokens.length + maxTokens} exceeds the model's context length of ${contextLength}`,
      `prompts[${i}]`,
    );
  }
  return tokens;
}
