import { type BaseWeights, initBaseSafetensors, loadBaseWeights } from "./base-weights.js";
import { DecodeBase, type DecodeWeights, forwardSequences, mergeLora } from "./decoder.js";
import { encodeBatch, encodeExamples } from "./encode-batch.js";
import { BYTE_CODEC, type TokenCodec, encodeWithBos } from "./codec.js";
import { type LoraLayout, type LoraParams, adapterConfig, exportAdapter, importAdapter, initLora } from "./lora.js";
import { MODEL_CONFIGS, byteLayout, listModels } from "./models.js";
import { type HfCheckpoint, type HfModelSource, inspectCheckpoint, moduleDims } from "./hf/hf-checkpoint.js";
import { type FastLora, HfFastModel } from "./hf/hf-fast-model.js";
import { fastLossAndGrads, fastPolicyLossAndGrads } from "./hf/hf-fast-train.js";
import { HfModel } from "./hf/hf-model.js";
import { ORT_INSTALL_HINT, OrtMatmul, ortAvailable } from "./hf/ort-matmul.js";
import { HfSampler, HfWeights, encodeSamplePrompt } from "./hf/hf-sampler.js";
import { hfLossAndGrads, hfPolicyLossAndGrads } from "./hf/hf-train.js";
import { type Accumulator, type AdamState, adamwUpdate, exportAccumulator, exportAdam, importAccumulator, importAdam, initAdam, l2Norm } from "./optimizer.js";
import { checkLoss, encodeLinearBatch, encodePolicyBatch, isPolicyLoss } from "./rl-loss.js";
import { SAMPLE_DEFAULTS, SampleBatcher, type SampleDone, type SampleHooks, encodeSamplePrompts, sampleLoop } from "./sample-loop.js";
import { sequenceLogprobs } from "./sequence-logprobs.js";
import { type Tf, loadTf } from "./tf-loader.js";
import { TrainGraph } from "./train-graph.js";
import {
  EngineError,
  type Example,
  type ForwardBackwardResult,
  type ForwardResult,
  type LossSpec,
  type ModelInfo,
  type OptimStepOptions,
  type OptimStepResult,
  type Prompt,
  type RunConfig,
  type RunState,
  type SampleParams,
  type SampleResult,
  type TopLogprob,
  type TrainStepResult,
  type WeightsRef,
} from "./types.js";

/** A built-in byte-level model. */
interface ByteModel {
  kind: "byte";
  layout: LoraLayout;
  codec: TokenCodec;
  contextLength: number;
  weights: BaseWeights;
  graph: TrainGraph | undefined;
  decode: DecodeBase | undefined;
}

/** A Hugging Face checkpoint; its weights are read on first use. */
interface CheckpointModel {
  kind: "hf";
  layout: LoraLayout;
  codec: TokenCodec;
  contextLength: number;
  checkpoint: HfCheckpoint;
  hf: HfModel | undefined;
  /** The same weights on the fast path, when ONNX Runtime is there (then `hf` is never loaded). */
  fast: HfFastModel | undefined;
}

type LoadedModel = ByteModel | CheckpointModel;

interface Slot {
  config: RunConfig;
  model: LoadedModel;
  lora: LoraParams;
  adam: AdamState;
  acc: Accumulator | undefined;
  /** Merged inference weights (tensors), rebuilt lazily after the LoRA weights change; free with `freeDecode`. */
  decode: DecodeWeights | undefined;
  /** A checkpoint model's inference weights (LoRA tensors), likewise. */
  hfDecode: HfWeights | undefined;
}

/** Options of `EngineCore.create`. */
export interface EngineCoreOptions {
  /**
   * KV-cache memory of this core's sample requests at once: the built-in models' (see
   * `SampleBatcher`) and, a budget of the same size, the checkpoint models' (see `HfSampler`).
   * @default 256 MiB
   */
  kvBudgetBytes?: number;
  /** Hugging Face checkpoint folders to serve next to the built-in models. */
  models?: HfModelSource[];
  /**
   * How a checkpoint model computes (training, sampling, forward, embeddings): `onnxruntime`, the
   * fast path (hand-written forward and LoRA backward, products on ONNX Runtime; needs
   * `onnxruntime-node`), `tfjs` (tfjs-wasm with its autodiff), or `auto`: the fast path when
   * `onnxruntime-node` is installed. @default "auto"
   */
  hfCompute?: HfCompute;
  /** ONNX Runtime's threads for the fast path. @default the machine's cores */
  hfThreads?: number;
}

/** See `EngineCoreOptions.hfCompute`. */
export type HfCompute = "auto" | "onnxruntime" | "tfjs";

/**
 * The engine on the calling thread, synchronous once created: the workers run one each, and
 * unit tests use it directly. Base models load lazily, once, and are shared by all runs and
 * adapters of this instance; a run's state is plain Float32Arrays.
 */
export class EngineCore {
  private readonly models = new Map<string, LoadedModel>();
  private readonly runs = new Map<string, Slot>();
  private readonly adapters = new Map<string, Slot>();
  /** Sample requests of this thread, decoded together (see `submitSample`). */
  private readonly batcher: SampleBatcher;
  /** Sample requests on checkpoint models. */
  private readonly hfSampler: HfSampler;
  private readonly checkpoints = new Map<string, HfCheckpoint>();
  /** ONNX Runtime's products for checkpoint models (undefined: they train on tfjs). */
  private readonly ort: OrtMatmul | undefined;

  private constructor(
    private readonly tf: Tf,
    options: EngineCoreOptions,
  ) {
    const compute = options.hfCompute ?? "auto";
    if (compute === "onnxruntime" && !ortAvailable()) throw new Error(`hfCompute "onnxruntime" needs ONNX Runtime: ${ORT_INSTALL_HINT}`);
    // ONNX Runtime is loaded only for checkpoint models: an engine of byte models never starts it
    // (nor its thread pool and scratch files).
    const needed = compute === "onnxruntime" || (compute === "auto" && (options.models?.length ?? 0) > 0);
    this.ort = needed && ortAvailable() ? new OrtMatmul(options.hfThreads) : undefined;
    this.batcher = new SampleBatcher(options.kvBudgetBytes);
    this.hfSampler = new HfSampler(options.kvBudgetBytes);
    for (const source of options.models ?? []) {
      const c = inspectCheckpoint(source);
      if (this.checkpoints.has(c.id) || MODEL_CONFIGS.has(c.id))
        throw new Error(`two models have the id ${JSON.stringify(c.id)}; name one with --model ID=DIR`);
      this.checkpoints.set(c.id, c);
    }
  }

  /**
   * Loads tfjs (wasm), checks the checkpoints of `options.models` (their weights are read on
   * first use) and returns a core.
   * @throws Error with the install command if tfjs is missing, or if `hfCompute` is
   *   `onnxruntime` and onnxruntime-node is; CheckpointError for a bad checkpoint.
   */
  static async create(options: EngineCoreOptions = {}): Promise<EngineCore> {
    return new EngineCore(await loadTf(), options);
  }

  listModels(): ModelInfo[] {
    return [...listModels(), ...[...this.checkpoints.values()].map((c) => structuredClone(c.info))];
  }

  /** The codec (tokenizer and special ids) of a model. @throws EngineError `model_not_found`. */
  codec(modelId: string): TokenCodec {
    return this.model(modelId).codec;
  }

  /** Number of live tfjs tensors (for leak tests). */
  numTensors(): number {
    return this.tf.memory().numTensors;
  }

  private model(id: string): LoadedModel {
    let m = this.models.get(id);
    if (!m) {
      const config = MODEL_CONFIGS.get(id);
      const checkpoint = this.checkpoints.get(id);
      if (config) {
        m = {
          kind: "byte",
          layout: byteLayout(config),
          codec: BYTE_CODEC,
          contextLength: config.context_length,
          weights: loadBaseWeights(config, initBaseSafetensors(config)),
          graph: undefined,
          decode: undefined,
        };
      } else if (checkpoint) {
        const spec = checkpoint.spec;
        const layout: LoraLayout = { id, n_layers: spec.layers, targets: checkpoint.info.target_modules, dims: (module) => moduleDims(spec, module) };
        m = { kind: "hf", layout, codec: checkpoint.codec, contextLength: checkpoint.info.context_length, checkpoint, hf: undefined, fast: undefined };
      } else {
        const all = [...MODEL_CONFIGS.keys(), ...this.checkpoints.keys()];
        throw new EngineError("model_not_found", `model ${JSON.stringify(id)} does not exist; available: ${all.join(", ")}`, "base_model");
      }
      this.models.set(id, m);
    }
    return m;
  }

  private hfModel(m: CheckpointModel): HfModel {
    m.hf ??= new HfModel(this.tf, m.checkpoint);
    return m.hf;
  }

  /** The checkpoint on the fast path, or undefined when this core trains checkpoints on tfjs. */
  private fastModel(m: CheckpointModel): HfFastModel | undefined {
    if (!this.ort) return undefined;
    m.fast ??= new HfFastModel(m.checkpoint, this.ort);
    return m.fast;
  }

  /** Which path computes checkpoint models here. */
  get hfCompute(): "onnxruntime" | "tfjs" {
    return this.ort ? "onnxruntime" : "tfjs";
  }

  private graph(m: ByteModel): TrainGraph {
    m.graph ??= new TrainGraph(this.tf, m.weights);
    return m.graph;
  }

  private slot(runId: string): Slot {
    const s = this.runs.get(runId);
    if (!s) throw new EngineError("run_not_found", `run ${JSON.stringify(runId)} is not loaded`, "run_id");
    return s;
  }

  private newSlot(config: RunConfig, lora?: LoraParams): Slot {
    const model = this.model(config.base_model);
    const full = withDefaults(config, model.layout);
    const l = lora ?? initLora(model.layout, full);
    return { config: full, model, lora: l, adam: initAdam(l), acc: undefined, decode: undefined, hfDecode: undefined };
  }

  /** Replaces (or deletes, without `slot`) the entry of `key`, freeing the old slot's decode tensors. */
  private setSlot(map: Map<string, Slot>, key: string, slot?: Slot): void {
    const old = map.get(key);
    if (old) freeDecode(old);
    if (slot) map.set(key, slot);
    else map.delete(key);
  }

  createRun(runId: string, config: RunConfig): RunState {
    this.setSlot(this.runs, runId, this.newSlot(config));
    return this.exportState(runId);
  }

  /** @throws SafetensorsError when the state does not match the config's model and targets. */
  loadRun(runId: string, config: RunConfig, state: RunState): void {
    const model = this.model(config.base_model);
    const full = withDefaults(config, model.layout);
    const mc = model.layout;
    const slot = this.newSlot(full, importAdapter(mc, full, state.adapter));
    slot.adam = importAdam(mc, full, state.optimizer);
    slot.adam.step = state.step;
    slot.acc = state.accumulated ? importAccumulator(mc, full, state.accumulated) : undefined;
    this.setSlot(this.runs, runId, slot);
  }

  dropRun(runId: string): void {
    this.setSlot(this.runs, runId);
  }

  /**
   * The loss of `batch` (`loss.loss_fn`, default cross-entropy; see `LossSpec`) and its gradient,
   * added to the run's accumulator.
   * @throws EngineError `invalid_example` naming the field for a batch its loss cannot use.
   */
  forwardBackward(runId: string, batch: Example[], loss?: LossSpec): ForwardBackwardResult {
    const s = this.slot(runId);
    checkLoss(batch, loss);
    const m = s.model;
    const ctx = m.contextLength;
    let result: { loss: number; grads: [Float32Array, Float32Array][]; predicted?: Int32Array };
    let numTokens: number;
    let tokenAccuracy: number | undefined;
    if (isPolicyLoss(loss)) {
      const enc = encodePolicyBatch(batch, ctx, m.codec);
      const fast = m.kind === "hf" ? this.fastModel(m) : undefined;
      result =
        m.kind === "byte"
          ? this.graph(m).policyLossAndGrads(enc, s.lora, loss)
          : fast
            ? fastPolicyLossAndGrads(fast, enc, s.lora, loss)
            : hfPolicyLossAndGrads(this.hfModel(m), enc, s.lora, loss);
      numTokens = enc.numTargets;
    } else if (loss?.loss_fn === "linear") {
      // The cross-entropy path with the coefficients as (unnormalised, signed) weights: the same
      // arithmetic, so A = 1/N is cross_entropy on unit weights to the bit.
      const enc = encodeLinearBatch(batch, ctx, m.codec);
      const fast = m.kind === "hf" ? this.fastModel(m) : undefined;
      result =
        m.kind === "byte" ? this.graph(m).lossAndGrads(enc, s.lora) : fast ? fastLossAndGrads(fast, enc, s.lora) : hfLossAndGrads(this.hfModel(m), enc, s.lora);
      numTokens = enc.numTokens;
    } else {
      const enc = encodeBatch(batch, ctx, m.codec);
      const fast = m.kind === "hf" ? this.fastModel(m) : undefined;
      result =
        m.kind === "byte" ? this.graph(m).lossAndGrads(enc, s.lora) : fast ? fastLossAndGrads(fast, enc, s.lora) : hfLossAndGrads(this.hfModel(m), enc, s.lora);
      numTokens = enc.numTokens;
      if (result.predicted) tokenAccuracy = weightedAccuracy(result.predicted, enc.targets, enc.weights);
    }
    const grads = result.grads;
    if (s.acc) {
      s.acc.calls += 1;
      s.acc.sums.forEach((pair, i) =>
        pair.forEach((sum, j) => {
          const g = grads[i]![j]!;
          for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! + g[k]!;
        }),
      );
    } else {
      s.acc = { calls: 1, sums: grads.map(([a, b]) => [Float32Array.from(a), Float32Array.from(b)]) };
    }
    return {
      loss: result.loss,
      grad_norm: l2Norm(grads),
      ...(tokenAccuracy !== undefined ? { token_accuracy: tokenAccuracy } : {}),
      num_tokens: numTokens,
      num_examples: batch.length,
    };
  }

  /** @throws EngineError `nothing_accumulated` when no forwardBackward happened since the last step. */
  optimStep(runId: string, options: OptimStepOptions = {}): OptimStepResult {
    const s = this.slot(runId);
    if (!s.acc)
      throw new EngineError("nothing_accumulated", `run ${JSON.stringify(runId)} has no accumulated gradient: call forward_backward before optim_step`);
    const calls = s.acc.calls;
    const mean = s.acc.sums.map(([a, b]) => [a.map((v) => v / calls), b.map((v) => v / calls)] as [Float32Array, Float32Array]);
    const norm = l2Norm(mean);
    if (!Number.isFinite(norm)) {
      // Gradients that are each finite can still overflow float32 when summed: applying them
      // would write NaN weights for good. Nothing is applied, and the accumulation is dropped.
      s.acc = undefined;
      throw new EngineError(
        "non_finite_gradient",
        `The gradient accumulated by ${calls} forward_backward call${calls === 1 ? "" : "s"} since step ${s.adam.step} of run ${JSON.stringify(runId)} is not finite (it overflows float32), so step ${s.adam.step + 1} was not applied and the accumulation was discarded; the weights are those of step ${s.adam.step}. Use token weights and advantages of ordinary size (e.g. within ±1e4), or fewer calls per step.`,
      );
    }
    if (options.max_grad_norm !== undefined && norm > options.max_grad_norm) {
      const f = options.max_grad_norm / (norm + 1e-6);
      for (const pair of mean) for (const g of pair) for (let k = 0; k < g.length; k++) g[k] = g[k]! * f;
    }
    const lr = options.learning_rate ?? s.config.learning_rate;
    const c = s.config;
    adamwUpdate(s.lora, s.adam, mean, {
      lr,
      beta1: options.beta1 ?? c.beta1,
      beta2: options.beta2 ?? c.beta2,
      eps: options.eps ?? c.eps,
      weightDecay: options.weight_decay ?? c.weight_decay,
    });
    s.acc = undefined;
    freeDecode(s);
    return { step: s.adam.step, learning_rate: lr, grad_norm: norm };
  }

  /**
   * forwardBackward then optimStep. A batch whose own loss or gradient is not finite is not
   * stepped on: the result carries them as they are and the step it did not take (the caller
   * refuses it and reloads the run, whose accumulator now holds them).
   * @throws EngineError as forwardBackward and optimStep (`non_finite_gradient`).
   */
  trainStep(runId: string, batch: Example[], options: OptimStepOptions = {}, loss?: LossSpec): TrainStepResult {
    const fb = this.forwardBackward(runId, batch, loss);
    if (!Number.isFinite(fb.loss) || !Number.isFinite(fb.grad_norm)) {
      const s = this.slot(runId);
      return { ...fb, step: s.adam.step, learning_rate: options.learning_rate ?? s.config.learning_rate };
    }
    const step = this.optimStep(runId, options);
    return { ...fb, ...step, grad_norm: step.grad_norm };
  }

  zeroGrad(runId: string): void {
    this.slot(runId).acc = undefined;
  }

  exportState(runId: string): RunState {
    const s = this.slot(runId);
    return {
      step: s.adam.step,
      adapter: exportAdapter(s.lora),
      adapter_config: adapterConfig(s.config),
      optimizer: exportAdam(s.lora, s.adam),
      ...(s.acc ? { accumulated: exportAccumulator(s.lora, s.acc) } : {}),
    };
  }

  /** The run's LoRA weights now, as PEFT safetensors (what `loadAdapter` takes). */
  exportAdapter(runId: string): Uint8Array {
    return exportAdapter(this.slot(runId).lora);
  }

  /** @throws SafetensorsError when the adapter does not match the config's model and targets. */
  loadAdapter(key: string, config: RunConfig, adapter: Uint8Array): void {
    const model = this.model(config.base_model);
    const full = withDefaults(config, model.layout);
    this.setSlot(this.adapters, key, this.newSlot(full, importAdapter(model.layout, full, adapter)));
  }

  unloadAdapter(key: string): void {
    this.setSlot(this.adapters, key);
  }

  private refSlot(ref: WeightsRef): Slot {
    if ("runId" in ref) return this.slot(ref.runId);
    const s = this.adapters.get(ref.adapterKey);
    if (!s) throw new EngineError("adapter_not_found", `adapter ${JSON.stringify(ref.adapterKey)} is not loaded`);
    return s;
  }

  /** The byte model's merged decode weights of `ref`, or a checkpoint's weights. */
  private weightsOf(ref: WeightsRef): DecodeWeights | HfWeights {
    const s = this.refSlot(ref);
    const m = s.model;
    if (m.kind === "hf") {
      if (s.hfDecode) return s.hfDecode;
      const fast = this.fastModel(m);
      if (fast) {
        // A copy: the run's arrays change in place at its next optimizer step.
        const lora: FastLora = {
          r: s.lora.r,
          scale: s.lora.scale,
          pairs: new Map(s.lora.pairs.map((p, index) => [`${p.layer}.${p.module}`, { at: Float32Array.from(p.at), bt: Float32Array.from(p.bt), index }])),
        };
        s.hfDecode = new HfWeights({ kind: "fast", model: fast, lora });
      } else {
        const hf = this.hfModel(m);
        s.hfDecode = new HfWeights({
          kind: "tfjs",
          model: hf,
          lora: hf.loraTensors(
            s.lora.scale,
            s.lora.pairs.map((p) => ({ ...p, r: s.lora.r })),
          ),
        });
      }
      return s.hfDecode;
    }
    m.decode ??= new DecodeBase(this.tf, m.weights);
    s.decode ??= mergeLora(m.decode, s.lora);
    return s.decode;
  }

  private decodeWeights(ref: WeightsRef): DecodeWeights {
    const w = this.weightsOf(ref);
    if (w instanceof HfWeights) throw new Error("a checkpoint model has no byte-model decode weights");
    return w;
  }

  /** See `sampleLoop` and `submitSample` for the semantics; abort throws EngineError `aborted`. */
  sample(ref: WeightsRef, prompts: Prompt[], params: Partial<SampleParams>, hooks: SampleHooks = {}): SampleResult {
    if (this.refSlot(ref).model.kind === "hf") {
      let outcome: { error: Error | undefined; result: SampleResult | undefined } | undefined;
      this.submitSample(ref, prompts, params, hooks, (error, result) => (outcome = { error, result }));
      while (!outcome && this.hfSampler.step());
      if (outcome?.error) throw outcome.error;
      return outcome!.result!;
    }
    checkPrompts(prompts);
    const w = this.decodeWeights(ref);
    const prompted = params.prompt_logprobs ? promptLogprobs(w, prompts, params.max_tokens, params.top_logprobs) : undefined;
    const result = sampleLoop(w, prompts, params, hooks, this.batcher.kvBudgetBytes);
    prompted?.(result);
    return result;
  }

  /**
   * Queues a sample request into this core's continuous batch: it is prefilled and then decoded
   * together with every other request on the same weights, one `stepSampling()` round at a time,
   * and `done` is called from the round that finishes it. The weights are those of `ref` now:
   * a later optimizer step does not change what this request samples from.
   * @throws EngineError `run_not_found`/`adapter_not_found`, `context_length_exceeded`, synchronously.
   */
  submitSample(ref: WeightsRef, prompts: Prompt[], params: Partial<SampleParams>, hooks: SampleHooks, done: SampleDone): void {
    const weights = this.weightsOf(ref);
    if (weights instanceof HfWeights) {
      const prompted = params.prompt_logprobs ? hfPromptLogprobs(weights, prompts, params.max_tokens ?? 64, params.top_logprobs) : undefined;
      this.hfSampler.submit(weights, prompts, params, hooks, prompted ? (error, result) => (result && prompted(result), done(error, result)) : done);
      return;
    }
    checkPrompts(prompts);
    const w = weights;
    // Prompt logprobs come from the weights the request samples from, computed now.
    const prompted = params.prompt_logprobs ? promptLogprobs(w, prompts, params.max_tokens, params.top_logprobs) : undefined;
    this.batcher.submit(w, prompts, params, hooks, prompted ? (error, result) => (result && prompted(result), done(error, result)) : done);
  }

  /**
   * Per-token log-probabilities of `batch` on the sampler's arithmetic (see `sequenceLogprobs`)
   * and their mean weighted negative (weights as in `forwardBackward`). Changes nothing.
   * @throws EngineError `context_length_exceeded` (param `batch[i]`), `invalid_example`.
   */
  forward(ref: WeightsRef, batch: Example[]): ForwardResult {
    if (!Array.isArray(batch) || batch.length === 0) throw new EngineError("invalid_example", "batch must hold at least one example", "batch");
    const s = this.refSlot(ref);
    // Checked exactly as forwardBackward checks a cross-entropy batch.
    checkLoss(batch, undefined);
    const { encoded } = encodeExamples(batch, s.model.contextLength, s.model.codec);
    const w = this.weightsOf(ref);
    const sequences = encoded.map((e) => e.tokens);
    const hits: boolean[][] = [];
    const logprobs = w instanceof HfWeights ? w.logprobs(sequences, hits) : sequenceLogprobs(w, sequences, hits);
    let sum = 0;
    let total = 0;
    let correct = 0;
    encoded.forEach((e, i) => {
      for (let t = 1; t < e.tokens.length; t++) {
        const weight = e.weights[t]!;
        if (weight > 0) {
          sum -= weight * logprobs[i]![t]!;
          total += weight;
          if (hits[i]![t]) correct += weight;
        }
      }
    });
    return {
      logprobs,
      loss: total > 0 ? sum / total : 0,
      token_accuracy: total > 0 ? correct / total : 0,
      num_tokens: total,
      num_examples: batch.length,
    };
  }

  /** One round of the continuous batch (see `SampleBatcher.step`). @returns whether requests remain. */
  stepSampling(): boolean {
    const byte = this.batcher.pending > 0 ? this.batcher.step() : false;
    const hf = this.hfSampler.pending > 0 ? this.hfSampler.step() : false;
    return byte || hf;
  }

  /** True when every pending sample request is paused (nothing to do until one resumes). */
  samplingPaused(): boolean {
    return (this.batcher.pending === 0 || this.batcher.paused) && (this.hfSampler.pending === 0 || this.hfSampler.paused);
  }

  /** Ends every queued or decoding sample request with `error`. */
  failSamples(error: Error): void {
    this.batcher.failAll(error);
    this.hfSampler.failAll(error);
  }

  /** Sample requests submitted and not yet answered. */
  pendingSamples(): number {
    return this.batcher.pending + this.hfSampler.pending;
  }

  /** KV-cache bytes the built-in models' sample requests hold now, the most they ever held, and the budget. */
  kvMemory(): { bytes: number; peakBytes: number; budgetBytes: number } {
    return { bytes: this.batcher.kvBytes, peakBytes: this.batcher.kvPeakBytes, budgetBytes: this.batcher.kvBudgetBytes };
  }

  /**
   * The same for checkpoint models' sample requests, each sequence counted for its prompt and
   * `max_tokens` (their caches grow token by token); a budget of its own, the same size.
   */
  hfKvMemory(): { bytes: number; peakBytes: number; budgetBytes: number } {
    return { bytes: this.hfSampler.kvBytes, peakBytes: this.hfSampler.kvPeakBytes, budgetBytes: this.hfSampler.kvBudgetBytes };
  }

  /**
   * Mean over positions (BOS included) of the final hidden states after the last LayerNorm.
   * @throws EngineError `context_length_exceeded` (param `inputs[i]`) for inputs longer than the context.
   */
  embeddings(ref: WeightsRef, inputs: string[]): number[][] {
    const s = this.refSlot(ref);
    const ctx = s.model.contextLength;
    const sequences = inputs.map((text, i) => {
      const tokens = encodeWithBos(s.model.codec, text);
      if (tokens.length > ctx) {
        throw new EngineError(
          "context_length_exceeded",
          `inputs[${i}] is ${tokens.length} tokens (with BOS) but the model's context length is ${ctx}`,
          `inputs[${i}]`,
        );
      }
      if (tokens.length === 0) throw new EngineError("invalid_example", `inputs[${i}] holds no token (this model adds no BOS to text)`, `inputs[${i}]`);
      return tokens;
    });
    const weights = this.weightsOf(ref);
    if (weights instanceof HfWeights) return weights.embeddings(sequences);
    const w = weights;
    const d = w.config.d_model;
    return sequences.map((tokens) => {
      const h = forwardSequences(w, [tokens]);
      const out = new Array<number>(d).fill(0);
      for (let t = 0; t < tokens.length; t++) for (let j = 0; j < d; j++) out[j]! += h[t * d + j]!;
      return out.map((v) => v / tokens.length);
    });
  }

  /** Training-graph logits of a batch for a run (for cross-checks between the two paths). */
  trainLogits(runId: string, batch: Example[]): Float32Array {
    const s = this.slot(runId);
    const m = s.model;
    if (m.kind !== "byte") throw new Error("trainLogits is for the built-in models");
    return this.graph(m).logits(encodeBatch(batch, m.contextLength), s.lora);
  }

  /** The base models whose weights this core has read (checkpoint models: on either path). */
  heldModels(): string[] {
    return [...this.models.entries()].filter(([, m]) => m.kind === "byte" || m.hf !== undefined || m.fast !== undefined).map(([id]) => id);
  }

  /** Frees every tensor. */
  dispose(): void {
    this.batcher.failAll(new Error("engine is closed"));
    for (const s of [...this.runs.values(), ...this.adapters.values()]) freeDecode(s);
    this.hfSampler.failAll(new Error("engine is closed"));
    for (const m of this.models.values()) {
      if (m.kind === "byte") {
        m.graph?.dispose();
        m.decode?.dispose();
      } else m.hf?.dispose();
    }
    this.ort?.dispose();
    this.models.clear();
    this.runs.clear();
    this.adapters.clear();
  }
}

/** @throws EngineError `invalid_example` (param `prompts[i]`) for an empty token prompt or an id outside the vocabulary. */
function checkPrompts(prompts: Prompt[]): void {
  prompts.forEach((p, i) => {
    if (typeof p === "string") return;
    const bad = p.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= BYTE_CODEC.vocabSize);
    if (bad >= 0)
      throw new EngineError(
        "invalid_example",
        `prompts[${i}][${bad}] is ${String(p[bad])}; token ids are integers in [0, ${BYTE_CODEC.vocabSize})`,
        `prompts[${i}][${bad}]`,
      );
    if (p.length === 0) throw new EngineError("invalid_example", `prompts[${i}] holds no token`, `prompts[${i}]`);
  });
}

/**
 * The prompts' tokens and logprobs now, and a function that puts them on each completion of a
 * result. Each prompt is checked against the context (with room for `maxTokens`) first, as the
 * sampler would check it: a prompt too long for the context is a 400, not a failed forward pass.
 * @throws EngineError `context_length_exceeded` (param `prompts[i]`).
 */
function promptLogprobs(w: DecodeWeights, prompts: Prompt[], maxTokens = SAMPLE_DEFAULTS.max_tokens, topK = 0): (result: SampleResult) => void {
  const encoded = encodeSamplePrompts(prompts, maxTokens, w.config.context_length);
  const top = topK > 0 ? { k: topK, out: [] as (TopLogprob[] | null)[][] } : undefined;
  const logprobs = sequenceLogprobs(w, encoded, undefined, top);
  return withPromptLogprobs(encoded, logprobs, top?.out);
}

/** Puts each prompt's tokens, logprobs (and top logprobs) on each completion of a result. */
function withPromptLogprobs(encoded: number[][], logprobs: (number | null)[][], tops: (TopLogprob[] | null)[][] | undefined): (result: SampleResult) => void {
  return (result) => {
    for (const c of result.completions) {
      c.prompt_tokens = encoded[c.prompt_index]!;
      c.prompt_logprobs = logprobs[c.prompt_index]!;
      if (tops) c.prompt_top_logprobs = tops[c.prompt_index]!;
    }
  };
}

function freeDecode(s: Slot): void {
  s.decode?.dispose();
  s.decode = undefined;
  s.hfDecode?.dispose();
  s.hfDecode = undefined;
}

/** Like `promptLogprobs`, for a checkpoint model. */
function hfPromptLogprobs(w: HfWeights, prompts: Prompt[], maxTokens: number, topK = 0): (result: SampleResult) => void {
  const encoded = prompts.map((p, i) => encodeSamplePrompt(w.codec, p, i, maxTokens, w.contextLength));
  const top = topK > 0 ? { k: topK, out: [] as (TopLogprob[] | null)[][] } : undefined;
  const logprobs = w.logprobs(encoded, undefined, top);
  return withPromptLogprobs(encoded, logprobs, top?.out);
}

/**
 * Fills `target_modules` (default q_proj, v_proj) and checks what tfjs cannot.
 * @throws RangeError for a non-positive or non-integer lora_r, or unknown target modules.
 */
function withDefaults(config: RunConfig, layout: LoraLayout): RunConfig {
  const target_modules = config.target_modules?.length ? config.target_modules : (["q_proj", "v_proj"] as RunConfig["target_modules"]);
  if (!Number.isInteger(config.lora_r) || config.lora_r < 1) throw new RangeError(`lora_r must be a positive integer, got ${config.lora_r}`);
  const bad = target_modules.find((m) => !layout.targets.includes(m));
  if (bad)
    throw new EngineError(
      "invalid_example",
      `target_modules: ${bad} is not a projection of ${layout.id}; it has ${layout.targets.join(", ")}`,
      "target_modules",
    );
  return { ...config, target_modules };
}

/** Sum of the (normalised) weights of the positions whose argmax is their target: the weighted token accuracy. */
function weightedAccuracy(predicted: Int32Array, targets: Int32Array, weights: Float32Array): number {
  let correct = 0;
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    const w = weights[i]!;
    if (targets[i]! < 0 || w <= 0) continue;
    total += w;
    if (predicted[i] === targets[i]) correct += w;
  }
  return total > 0 ? Math.min(1, correct / total) : 0;
}
