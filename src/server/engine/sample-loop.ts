import { CompletionText } from "./completion-text.js";
import { type DecodeWeights, KvCache, forwardInto, logitsInto } from "./decoder.js";
import { pickToken } from "./pick-token.js";
import { Rng } from "./rng.js";
import { BOS, EOS, encodeText } from "./tokenizer.js";
import { type Completion, EngineError, type SampleParams, type SampleResult, type TokenEvent } from "./types.js";

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

/** Hooks of one sampling call. */
export interface SampleHooks {
  /** Called for every sampled token (delta may be "" while text is held back). */
  onToken?: (event: TokenEvent) => void;
  /** Polled between decoding steps; true stops the call with EngineError `aborted`. */
  isAborted?: () => boolean;
}

/** Rows per prefill forward pass (several prompts share one). */
const PREFILL_ROWS = 2048;

interface Live {
  index: number;
  promptIndex: number;
  cache: KvCache;
  rng: Rng;
  text: CompletionText;
  tokens: number[];
  logprobs: number[];
  next: number | undefined;
  finish: "stop" | "length" | undefined;
}

/**
 * Samples `n` completions for each prompt. Each completion's randomness comes from
 * `Rng(seed, sampleIndex)` and its arithmetic only from its own tokens, so with a seed a
 * prompt's output never depends on the other prompts or its position in the batch.
 * @throws EngineError `context_length_exceeded` (param `prompts[i]`) when BOS + prompt +
 *   max_tokens exceeds the context; `aborted` when `isAborted` turns true.
 */
export function sampleLoop(w: DecodeWeights, prompts: string[], partial: Partial<SampleParams>, hooks: SampleHooks = {}): SampleResult {
  const p: SampleParams = { ...SAMPLE_DEFAULTS, ...stripUndefined(partial) };
  const ctx = w.config.context_length;
  const encoded = prompts.map((text, i) => {
    const tokens = [BOS, ...encodeText(text)];
    if (tokens.length + p.max_tokens > ctx) {
      throw new EngineError(
        "context_length_exceeded",
        `prompts[${i}] is ${tokens.length} tokens (with BOS) and max_tokens is ${p.max_tokens}: ${tokens.length + p.max_tokens} exceeds the model's context length of ${ctx}`,
        `prompts[${i}]`,
      );
    }
    return tokens;
  });
  const seed = p.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const opts = { temperature: p.temperature, topP: p.top_p, topK: p.top_k };
  const live: Live[] = [];
  const V = w.config.vocab_size;
  // Prefill prompts together (each row's arithmetic is independent of the others), in chunks of
  // about PREFILL_ROWS rows to bound memory.
  for (let first = 0; first < encoded.length; ) {
    if (hooks.isAborted?.()) throw new EngineError("aborted", "sampling was aborted");
    let last = first + 1;
    let rows = encoded[first]!.length;
    while (last < encoded.length && rows + encoded[last]!.length <= PREFILL_ROWS) rows += encoded[last++]!.length;
    const chunk = encoded.slice(first, last);
    const caches = chunk.map(() => new KvCache(w.config));
    const chunkRows = forwardInto(w, caches, chunk);
    const lastRows: number[] = [];
    let end = 0;
    for (const tokens of chunk) lastRows.push((end += tokens.length) - 1);
    const logits = logitsInto(w, chunkRows, lastRows);
    chunk.forEach((_, i) => {
      const promptIndex = first + i;
      const cache = caches[i]!;
      for (let s = 0; s < p.n; s++) {
        const l: Live = {
          index: promptIndex * p.n + s,
          promptIndex,
          cache: s === p.n - 1 ? cache : cache.clone(w.config),
          rng: new Rng(seed, s),
          text: new CompletionText(p.stop),
          tokens: [],
          logprobs: [],
          next: undefined,
          finish: p.max_tokens === 0 ? "length" : undefined,
        };
        if (!l.finish) step(l, logits.subarray(i * V, (i + 1) * V), p, opts, hooks);
        live.push(l);
      }
    });
    first = last;
  }
  for (;;) {
    const active = live.filter((l) => l.finish === undefined);
    if (active.length === 0) break;
    if (hooks.isAborted?.()) throw new EngineError("aborted", "sampling was aborted");
    const rows = forwardInto(
      w,
      active.map((l) => l.cache),
      active.map((l) => [l.next!]),
    );
    const logits = logitsInto(w, rows);
    active.forEach((l, i) => step(l, logits.subarray(i * V, (i + 1) * V), p, opts, hooks));
  }
  const completions: Completion[] = live.map((l) => ({
    index: l.index,
    prompt_index: l.promptIndex,
    text: l.text.text ?? "",
    tokens: l.tokens,
    ...(p.logprobs ? { logprobs: l.logprobs } : {}),
    finish_reason: l.finish!,
  }));
  return {
    completions,
    prompt_tokens: encoded.reduce((a, t) => a + t.length, 0) * p.n,
    completion_tokens: live.reduce((a, l) => a + l.tokens.length, 0),
  };
}

function step(l: Live, logits: Float32Array, p: SampleParams, opts: Parameters<typeof pickToken>[1], hooks: SampleHooks): void {
  const { token, logprob } = pickToken(logits, opts, l.rng);
  let delta: string;
  if (token === EOS) {
    delta = l.text.finish().delta;
    l.finish = "stop";
  } else {
    l.tokens.push(token);
    l.logprobs.push(logprob);
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
  hooks.onToken?.({
    index: l.index,
    prompt_index: l.promptIndex,
    delta,
    finish_reason: l.finish ?? null,
    ...(p.logprobs ? { logprob } : {}),
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
