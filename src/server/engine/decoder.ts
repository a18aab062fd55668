import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs";
import type { BaseWeights } from "./base-weights.js";
import type { LoraParams } from "./lora.js";
import type { ModelConfig } from "./models.js";
import type { Tf } from "./tf-loader.js";
import type { AttentionModule } from "./types.js";
import { type WasmBackend, type WasmModule, wasmHeap } from "./tfjs-wasm.js";
import { JsLogitSums, type LogitSums } from "./pick-token.js";
import type { LogNormalizer } from "./token-logprob.js";
import { type DecodeKernels, attendScratchBytes, decodeKernels, kvCacheBytes, logitScratchBytes } from "./wasm/decode-kernels.js";

/**
 * Inference with a KV cache. The projections (q/k/v, o, MLP, LM head) of every row being decoded
 * run as one untransposed 2-D matmul each on the tfjs wasm backend (XNNPACK), which is ~10x faster
 * than JavaScript loops. Everything else per row (LayerNorm, residuals, attention over the cache,
 * GELU, and the sampler's sums over the logits) runs as the decoder's own wasm kernels
 * (`wasm/decode-kernels.ts`) on the same heap: attention and GELU in float32, LayerNorm and the
 * sampler's sums in float64.
 *
 * Batch independence: XNNPACK computes each output row with the same micro-kernel and the same
 * summation order whatever the number of rows and wherever the row sits (checked bit-for-bit by
 * test/engine/decoder.test.ts), and everything else is per row, so a sequence's result depends
 * only on its own tokens. That is what makes seeded sampling independent of the rest of the batch.
 */

/** Frozen decode tensors of one base model, `[in, out]` layout, shared by all its runs and adapters. */
export class DecodeBase {
  readonly up: Tensor2D[];
  readonly down: Tensor2D[];
  readonly head: Tensor2D;
  /** Buffers of this thread's forward passes on this model. */
  readonly scratch: DecodeScratch;
  /** KV caches of this thread's sequences on this model. */
  readonly kvPool: KvPool;
  /**
   * Byte addresses of the LayerNorm parameters copied into the wasm heap: gain and bias of each
   * layer's two norms (`ln1`, `ln2`), and of the final norm.
   */
  readonly norms: { ln1: [number, number]; ln2: [number, number] }[];
  readonly finalNorm: [number, number];
  private readonly normBlock: number;

  constructor(
    readonly tf: Tf,
    readonly base: BaseWeights,
  ) {
    const c = base.config;
    if ((c.d_model / c.n_heads) % 4 !== 0) throw new Error(`decoder needs a head size that is a multiple of 4, got ${c.d_model / c.n_heads}`);
    const m = (data: Float32Array, rows: number, cols: number) => tf.keep(tf.tensor2d(data, [rows, cols]));
    this.up = base.layers.map((l) => m(l.up, c.d_model, c.d_ff));
    this.down = base.layers.map((l) => m(l.down, c.d_ff, c.d_model));
    this.head = m(base.head, c.d_model, c.vocab_size);
    this.scratch = new DecodeScratch(tf, c);
    this.kvPool = new KvPool(this.scratch, c);
    const params = [...base.layers.flatMap((l) => [l.ln1G, l.ln1B, l.ln2G, l.ln2B]), base.normG, base.normB];
    const d = c.d_model;
    this.normBlock = this.scratch.malloc(params.length * d * 4);
    params.forEach((p, i) => this.scratch.view().set(p, (this.normBlock >>> 2) + i * d));
    const at = (i: number) => this.normBlock + i * d * 4;
    this.norms = base.layers.map((_, li) => ({ ln1: [at(4 * li), at(4 * li + 1)], ln2: [at(4 * li + 2), at(4 * li + 3)] }));
    this.finalNorm = [at(4 * base.layers.length), at(4 * base.layers.length + 1)];
  }

  dispose(): void {
    for (const t of [...this.up, ...this.down, this.head]) t.dispose();
    this.kvPool.dispose();
    this.scratch.freeBytes(this.normBlock);
    this.scratch.dispose();
  }
}

/**
 * Decode weights of one run or adapter: attention projections with LoRA merged in, plus the
 * shared base. Immutable once built: a run's next optimizer step makes new ones, so requests
 * already decoding keep the weights they started with. `retain`/`release` count those users;
 * `dispose` frees the tensors once the last one is done.
 */
export class DecodeWeights {
  private users = 0;
  private retired = false;

  constructor(
    readonly shared: DecodeBase,
    /** Per layer: `qkv` `[d, 3d]` (q, k, v side by side) and `o` `[d, d]`, LoRA merged. */
    readonly layers: { qkv: Tensor2D; o: Tensor2D }[],
  ) {}

  get config(): ModelConfig {
    return this.shared.base.config;
  }

  get base(): BaseWeights {
    return this.shared.base;
  }

  get tf(): Tf {
    return this.shared.tf;
  }

  retain(): void {
    this.users++;
  }

  release(): void {
    this.users--;
    if (this.retired && this.users === 0) this.free();
  }

  /** Frees this run's merged tensors (not the shared base), now or when the last user releases them. */
  dispose(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.users === 0) this.free();
  }

  private free(): void {
    for (const l of this.layers) {
      l.qkv.dispose();
      l.o.dispose();
    }
  }
}

/** Merges LoRA into the base projections (`w + scale * at @ bt`, float64 sums) as fresh tensors. */
export function mergeLora(shared: DecodeBase, lora: LoraParams | undefined): DecodeWeights {
  const tf = shared.tf;
  const base = shared.base;
  const d = base.config.d_model;
  const layers = base.layers.map((l, li) => {
    const proj: Record<AttentionModule, Float32Array> = { q_proj: l.q, k_proj: l.k, v_proj: l.v, o_proj: l.o };
    for (const pair of lora?.pairs ?? []) {
      if (pair.layer !== li) continue;
      const merged = Float32Array.from(proj[pair.module as AttentionModule]);
      const r = lora!.r;
      // merged[i][o] += scale * sum_k at[i][k] * bt[k][o]   ([in, out] layout)
      for (let i = 0; i < d; i++) {
        for (let o = 0; o < d; o++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += pair.at[i * r + k]! * pair.bt[k * d + o]!;
          merged[i * d + o] = merged[i * d + o]! + lora!.scale * acc;
        }
      }
      proj[pair.module as AttentionModule] = merged;
    }
    const qkv = new Float32Array(d * 3 * d);
    for (let i = 0; i < d; i++) {
      qkv.set(proj.q_proj.subarray(i * d, (i + 1) * d), i * 3 * d);
      qkv.set(proj.k_proj.subarray(i * d, (i + 1) * d), i * 3 * d + d);
      qkv.set(proj.v_proj.subarray(i * d, (i + 1) * d), i * 3 * d + 2 * d);
    }
    return { qkv: tf.keep(tf.tensor2d(qkv, [d, 3 * d])), o: tf.keep(tf.tensor2d(proj.o_proj, [d, d])) };
  });
  return new DecodeWeights(shared, layers);
}

/** One sequence's KV cache in the wasm heap (layout: see `kvCacheBytes`). Made by a `KvPool`. */
export class KvCache {
  /** Positions filled. */
  length = 0;

  constructor(
    /** Byte address in the wasm heap. */
    readonly ptr: number,
  ) {}
}

/**
 * KV caches of one model on one thread, reused across requests: a finished sequence's cache
 * goes back to the pool (up to `keep` of them stay allocated, the rest are freed) instead of
 * being garbage. Positions past `length` are never read, so a reused cache needs no clearing.
 */
export class KvPool {
  private readonly free: KvCache[] = [];
  private readonly bytes: number;
  /** Caches handed out and not yet released. */
  inUse = 0;

  constructor(
    private readonly scratch: DecodeScratch,
    private readonly config: ModelConfig,
    private readonly keep = 64,
  ) {
    this.bytes = kvCacheBytes(config);
  }

  acquire(): KvCache {
    this.inUse++;
    const c = this.free.pop() ?? new KvCache(this.scratch.malloc(this.bytes));
    c.length = 0;
    return c;
  }

  /** Allocates now whatever the next `count` acquires need, so they do not grow the heap. */
  reserve(count: number): void {
    while (this.free.length < count) this.free.push(new KvCache(this.scratch.malloc(this.bytes)));
  }

  /** A cache holding a copy of `other` (n samples share one prompt prefill). */
  copyOf(other: KvCache): KvCache {
    const c = this.acquire();
    const { n_layers, context_length, d_model } = this.config;
    const block = context_length * d_model * 4;
    const used = other.length * d_model * 4;
    const heap = this.scratch.bytes();
    for (let i = 0; i < 2 * n_layers; i++) heap.copyWithin(c.ptr + i * block, other.ptr + i * block, other.ptr + i * block + used);
    c.length = other.length;
    return c;
  }

  release(c: KvCache): void {
    this.inUse--;
    if (this.free.length < this.keep) this.free.push(c);
    else this.scratch.freeBytes(c.ptr);
  }

  /** Frees the idle caches. */
  dispose(): void {
    for (const c of this.free.splice(0)) this.scratch.freeBytes(c.ptr);
  }

  /** Bytes held by the pool's idle caches. */
  get idleBytes(): number {
    return this.free.length * this.bytes;
  }
}

/**
 * Runs each of `sequences` from an empty cache (caches from the pool, released afterwards) and
 * returns the final hidden state of every row, as `forwardRows`.
 */
export function forwardSequences(w: DecodeWeights, sequences: readonly (readonly number[])[]): Float32Array {
  const pool = w.shared.kvPool;
  const caches = sequences.map(() => pool.acquire());
  try {
    const rows = forwardInto(w, caches, sequences);
    const A = w.shared.scratch.aOffset;
    return w.shared.scratch.view().slice(A, A + rows * w.config.d_model);
  } finally {
    for (const c of caches) pool.release(c);
  }
}

/** `x[rows, k] @ w[k, n]` through tfjs (the reference path); returns a fresh `[rows, n]` array. */
export function project(tf: Tf, x: Float32Array, rows: number, w: Tensor2D): Float32Array {
  const k = w.shape[0];
  const xt = tf.tensor2d(x.length === rows * k ? x : x.subarray(0, rows * k), [rows, k]);
  const y = tf.matMul(xt, w);
  const out = y.dataSync() as Float32Array;
  xt.dispose();
  y.dispose();
  return out;
}

/** A float buffer in the wasm heap, registered with the backend as a tensor so kernels can address it. */
class HeapBuffer {
  readonly id: number;
  readonly offset: number;

  constructor(
    backend: WasmBackend,
    readonly tensor: Tensor1D,
    readonly floats: number,
  ) {
    const info = backend.dataIdMap.get(tensor.dataId)!;
    this.id = info.id;
    this.offset = info.memoryOffset >>> 2;
  }
}

/**
 * `LogitSums` on the wasm kernels, for logits that are a view of the wasm heap (others go to the
 * JavaScript reference, which gives the same bits).
 */
class HeapLogitSums implements LogitSums {
  private readonly js = new JsLogitSums();
  private inHeap = false;
  private vocab = 0;

  constructor(
    private readonly wasm: WasmModule,
    private readonly kernels: DecodeKernels,
    /** Byte address of the kernels' output. */
    readonly out: number,
  ) {}

  normalizer(logits: Float32Array): LogNormalizer {
    if (logits.buffer !== this.wasm.HEAPF32.buffer) return this.js.normalizer(logits);
    this.kernels.normalizer(logits.byteOffset, logits.length, this.out);
    const o = this.out;
    const max = this.wasm.HEAPF64[o >>> 3]!;
    return { max, argmax: this.wasm.HEAP32[(o + 16) >>> 2]!, logZ: max + Math.log(this.wasm.HEAPF64[(o + 8) >>> 3]!) };
  }

  tempered(logits: Float32Array, max: number, temperature: number): number {
    this.inHeap = logits.buffer === this.wasm.HEAPF32.buffer;
    if (!this.inHeap) return this.js.tempered(logits, max, temperature);
    this.vocab = logits.length;
    return this.kernels.tempered(logits.byteOffset, logits.length, max, temperature, this.out);
  }

  get probs(): Float64Array {
    return this.inHeap ? this.wasm.HEAPF64.subarray(this.out >>> 3, (this.out >>> 3) + this.vocab) : this.js.probs;
  }
}

/**
 * Preallocated decode state of one base model on one thread: two wasm-heap buffers the matmuls
 * read and write in place (ping-pong), the residual stream and the attention scratch. Each
 * projection is one direct call of the backend's BatchMatMul kernel — the kernel `tf.matMul`
 * reaches, with the same XNNPACK operator cached per weight tensor, so the results are
 * bit-identical to `project` — without creating, reading back or disposing any tensor.
 * Grows (never shrinks) to the largest number of rows seen. Not reentrant: one forward at a time.
 */
export class DecodeScratch {
  private readonly backend: WasmBackend;
  private readonly wasm: WasmModule;
  /** Byte offset of six int32s in the wasm heap: the 3-D shapes of a matmul's two operands. */
  private readonly shapes: number;
  private readonly width: number;
  private capacity = 0;
  private a: HeapBuffer | undefined;
  private b: HeapBuffer | undefined;
  private heap: Float32Array;
  /** The decoder's non-matmul arithmetic, on this heap. */
  readonly kernels: DecodeKernels;
  /** Byte address of `attend`'s scratch. */
  readonly attendScratch: number;
  /** Byte address of the row table (cache address and position of each row, two int32s). */
  table = 0;
  /** The sampler's per-token sums, on the kernels for logits in this heap. */
  readonly logitSums: HeapLogitSums;
  /** Byte address of the residual stream `[rows, d]`. */
  x = 0;

  constructor(
    private readonly tf: Tf,
    private readonly config: ModelConfig,
  ) {
    const { backend, memory } = wasmHeap(tf, "the decoder");
    this.backend = backend;
    this.wasm = backend.wasm;
    this.kernels = decodeKernels(memory, config);
    this.shapes = this.wasm._malloc(24);
    this.attendScratch = this.wasm._malloc(attendScratchBytes(config));
    this.width = Math.max(3 * config.d_model, config.d_ff, config.vocab_size);
    this.heap = this.wasm.HEAPF32;
    this.logitSums = new HeapLogitSums(this.wasm, this.kernels, this.malloc(logitScratchBytes(config.vocab_size)));
  }

  /** Makes room for `rows` rows. */
  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const cap = Math.max(rows, this.capacity * 2, 16);
    this.a?.tensor.dispose();
    this.b?.tensor.dispose();
    // 8 floats of slack: the logit kernels read whole groups of 8 past the last row's end.
    const buf = () => new HeapBuffer(this.backend, this.tf.keep(this.tf.zeros([cap * this.width + 8])) as Tensor1D, cap * this.width);
    this.a = buf();
    this.b = buf();
    if (this.table) this.wasm._free(this.table);
    this.table = this.malloc(cap * 8);
    if (this.x) this.wasm._free(this.x);
    this.x = this.malloc(cap * this.config.d_model * 4);
    this.capacity = cap;
  }

  /** `bytes` bytes of the wasm heap (16-byte aligned). @throws Error when the heap cannot grow. */
  malloc(bytes: number): number {
    const p = this.wasm._malloc(bytes);
    if (!p) throw new Error(`the wasm heap could not grow by ${bytes} bytes`);
    return p;
  }

  freeBytes(ptr: number): void {
    this.wasm._free(ptr);
  }

  /** The whole wasm heap as bytes (re-read after anything that may grow the heap). */
  bytes(): Uint8Array {
    return this.wasm.HEAPU8;
  }

  /** The whole wasm heap as int32s. */
  int32(): Int32Array {
    return this.wasm.HEAP32;
  }

  /** The whole wasm heap as floats (re-read: the heap's buffer changes when wasm memory grows). */
  view(): Float32Array {
    if (this.heap.buffer !== this.wasm.HEAPF32.buffer) this.heap = this.wasm.HEAPF32;
    return this.heap;
  }

  /** Float offset of buffer A or B in `view()`. */
  get aOffset(): number {
    return this.a!.offset;
  }

  get bOffset(): number {
    return this.b!.offset;
  }

  /** `dst[rows, n] = src[rows, k] @ w[k, n]`, src and dst being buffer A or B. */
  matmul(src: "a" | "b", rows: number, w: Tensor2D, dst: "a" | "b"): void {
    const [k, n] = w.shape;
    const s = this.shapes >>> 2;
    const i32 = this.wasm.HEAP32;
    i32[s] = 1;
    i32[s + 1] = rows;
    i32[s + 2] = k;
    i32[s + 3] = 1;
    i32[s + 4] = k;
    i32[s + 5] = n;
    const wInfo = this.backend.dataIdMap.get(w.dataId);
    if (!wInfo) throw new Error("decode weight tensor was disposed");
    this.wasm._BatchMatMul(this[src]!.id, this.shapes, 3, wInfo.id, this.shapes + 12, 3, 0, 0, this[dst]!.id);
  }

  dispose(): void {
    this.a?.tensor.dispose();
    this.b?.tensor.dispose();
    this.a = this.b = undefined;
    this.capacity = 0;
    this.wasm._free(this.shapes);
    this.wasm._free(this.attendScratch);
    this.wasm._free(this.logitSums.out);
    if (this.table) this.wasm._free(this.table);
    if (this.x) this.wasm._free(this.x);
  }
}

/**
 * Runs `tokens[s]` (new tokens) through the model for each sequence `s`, appending to its KV
 * cache, and leaves the final hidden state (after the last LayerNorm) of every new row in the
 * scratch's buffer A: rows in order of sequences then positions. With `keep` (ascending row
 * indices), only those rows' final states are made, in that order: the last layer's attention
 * projection and MLP run for them alone (every row's keys and values still enter the cache),
 * which is what a prefill that needs each prompt's last row saves. Allocates nothing once the
 * scratch has room. @returns the number of rows left in buffer A.
 */
export function forwardInto(w: DecodeWeights, caches: readonly KvCache[], tokens: readonly (readonly number[])[], keep?: readonly number[]): number {
  const shared = w.shared;
  const sc = shared.scratch;
  const k = sc.kernels;
  const c = w.config;
  const d = c.d_model;
  let rows = 0;
  for (let s = 0; s < tokens.length; s++) {
    rows += tokens[s]!.length;
    if (caches[s]!.length + tokens[s]!.length > c.context_length) throw new Error(`sequence ${s} would exceed the context length`);
  }
  sc.reserve(rows);
  const { embed, pos } = w.base;
  const table = sc.int32();
  const T = sc.table >>> 2;
  const heap = sc.view();
  const X = sc.x >>> 2;
  let r0 = 0;
  for (let s = 0; s < tokens.length; s++) {
    const toks = tokens[s]!;
    const start = caches[s]!.length;
    for (let i = 0; i < toks.length; i++, r0++) {
      const p = start + i;
      table[T + 2 * r0] = caches[s]!.ptr;
      table[T + 2 * r0 + 1] = p;
      const eo = toks[i]! * d;
      const po = p * d;
      const xo = X + r0 * d;
      for (let j = 0; j < d; j++) heap[xo + j] = embed[eo + j]! + pos[po + j]!;
    }
  }
  const A = sc.aOffset << 2;
  const B = sc.bOffset << 2;
  const L = w.layers.length;
  k.layerNorm(sc.x, rows, shared.norms[0]!.ln1[0], shared.norms[0]!.ln1[1], A);
  for (let li = 0; li < L; li++) {
    const lw = w.layers[li]!;
    const norm = shared.norms[li]!;
    sc.matmul("a", rows, lw.qkv, "b");
    k.attend(rows, sc.table, B, A, li, sc.attendScratch);
    if (keep && li === L - 1) rows = keepRows(sc, rows, keep, d);
    sc.matmul("a", rows, lw.o, "b");
    k.addNorm(sc.x, B, rows, norm.ln2[0], norm.ln2[1], A);
    sc.matmul("a", rows, shared.up[li]!, "b");
    k.gelu(B, rows * c.d_ff);
    sc.matmul("b", rows, shared.down[li]!, "a");
    // the residual, then the next layer's first norm (or the final norm) into buffer A
    const [g, b] = li + 1 < L ? shared.norms[li + 1]!.ln1 : shared.finalNorm;
    k.addNorm(sc.x, A, rows, g, b, A);
  }
  for (let s = 0; s < tokens.length; s++) caches[s]!.length += tokens[s]!.length;
  return rows;
}

/** Moves rows `keep` (ascending) of buffer A and of the residual stream to the front. @returns their number. */
function keepRows(sc: DecodeScratch, rows: number, keep: readonly number[], d: number): number {
  const heap = sc.view();
  const A = sc.aOffset;
  const X = sc.x >>> 2;
  for (let j = 0; j < keep.length; j++) {
    const from = keep[j]!;
    if (from >= rows || (j > 0 && from <= keep[j - 1]!)) throw new Error(`keep must be ascending rows below ${rows}`);
    if (from === j) continue;
    heap.copyWithin(A + j * d, A + from * d, A + (from + 1) * d);
    heap.copyWithin(X + j * d, X + from * d, X + (from + 1) * d);
  }
  return keep.length;
}

/**
 * Logits of the first `rows` hidden rows left in buffer A by `forwardInto`. @returns a view
 * `[rows, vocab]` into the wasm heap, valid until the next forward or logits call.
 */
export function logitsInto(w: DecodeWeights, rows: number): Float32Array {
  const sc = w.shared.scratch;
  sc.matmul("a", rows, w.shared.head, "b");
  const B = sc.bOffset;
  return sc.view().subarray(B, B + rows * w.config.vocab_size);
}

/**
 * Runs `tokens[s]` (new tokens) through the model for each sequence `s`, appending to its KV
 * cache, and returns the final hidden state (after the last LayerNorm) of every new row.
 * @returns a fresh `[totalRows, d]`, rows in order of sequences then positions.
 */
export function forwardRows(w: DecodeWeights, caches: KvCache[], tokens: number[][]): Float32Array {
  const rows = forwardInto(w, caches, tokens);
  const A = w.shared.scratch.aOffset;
  return w.shared.scratch.view().slice(A, A + rows * w.config.d_model);
}

/** Logits `[rows, vocab]` (a fresh array) of hidden states `[rows, d]`. */
export function logitsOf(w: DecodeWeights, hidden: Float32Array, rows: number): Float32Array {
  const sc = w.shared.scratch;
  const d = w.config.d_model;
  sc.reserve(rows);
  sc.view().set(hidden.subarray(0, rows * d), sc.aOffset);
  return logitsInto(w, rows).slice();
}
