import { describe, expectTypeOf, it } from "vitest";
import type {
  CacheStats,
  Checkpoint,
  EpochResult,
  ForwardBackwardResult,
  InferenceClient,
  OptimStepResult,
  SampleChunk,
  SignalClient,
  SignalRun,
  Stream,
  TrainingClient,
  TrainingMetrics,
  TrainStepResult,
  WithRequestId,
} from "../../src/index.js";
import { AsyncTrainingClient } from "../../src/index.js";

declare const client: SignalClient;
declare const training: TrainingClient;
declare const inference: InferenceClient;
declare const run: SignalRun;

describe("the SDK's types", () => {
  it("give results their wire field names", () => {
    expectTypeOf(client.forwardBackward("run_x", [{ text: "a" }])).resolves.toEqualTypeOf<WithRequestId<ForwardBackwardResult>>();
    expectTypeOf<ForwardBackwardResult["grad_norm"]>().toEqualTypeOf<number>();
    expectTypeOf(client.optimStep("run_x")).resolves.toEqualTypeOf<WithRequestId<OptimStepResult>>();
    expectTypeOf(client.sample("run_x", ["a"])).resolves.toMatchTypeOf<string[]>();
    expectTypeOf(client.saveState("run_x", { mode: "adapter" })).resolves.toEqualTypeOf<WithRequestId<Checkpoint>>();
    expectTypeOf(client.downloadCheckpoint("run_x", 1)).resolves.toMatchTypeOf<Uint8Array>();
    expectTypeOf(training.trainBatch([{ text: "a" }])).resolves.toEqualTypeOf<WithRequestId<TrainStepResult>>();
    expectTypeOf(training.trainEpoch([])).resolves.toEqualTypeOf<EpochResult>();
    expectTypeOf<EpochResult>().toHaveProperty("avg_loss");
    expectTypeOf(training.getMetrics()).toEqualTypeOf<TrainingMetrics>();
    expectTypeOf<TrainingMetrics>().toHaveProperty("grad_norm_history").toEqualTypeOf<number[]>();
    expectTypeOf(inference.getCacheStats()).toEqualTypeOf<CacheStats>();
    expectTypeOf<CacheStats>().toHaveProperty("hit_rate").toEqualTypeOf<number>();
    expectTypeOf(inference.streamSample("a")).toEqualTypeOf<Stream<SampleChunk>>();
    expectTypeOf(inference.streamSample("a")).toMatchTypeOf<AsyncIterable<SampleChunk>>();
    expectTypeOf(inference.embeddings(["a"])).resolves.toMatchTypeOf<number[][]>();
    expectTypeOf(run.run_id).toEqualTypeOf<string>();
    expectTypeOf(run.current_step).toEqualTypeOf<number>();
    expectTypeOf(run.training()).toEqualTypeOf<TrainingClient>();
    expectTypeOf(new AsyncTrainingClient({ runId: "run_x" })).toMatchTypeOf<TrainingClient>();
  });

  it("make wrong field names and types compile errors", () => {
    // @ts-expect-error misspelt field
    void client.createRun({ base_model: "m", lora_rank: 8 });
    // @ts-expect-error wrong type
    void client.createRun({ base_model: "m", lora_r: "8" });
    // @ts-expect-error from_checkpoint needs a step
    void client.createRun({ from_checkpoint: { run_id: "run_x" } });
    // @ts-expect-error camelCase is not the wire's name
    void client.sample("run_x", ["a"], { maxTokens: 5 });
    // @ts-expect-error prompts are strings
    void inference.sample([1, 2]);
    // @ts-expect-error an example is prompt/completion, text or tokens
    void training.forwardBackward([{ input: "a" }]);
    // @ts-expect-error unknown mode
    void training.saveCheckpoint({ mode: "full" });
    // @ts-expect-error learning_rate is a number
    void training.trainBatch([{ text: "a" }], { learning_rate: "1e-4" });
    // @ts-expect-error an SDK option is a number
    void inference.batchSample(["a"], { batchSize: "4" });
    // @ts-expect-error runId is required
    void new AsyncTrainingClient({ apiKey: "k" });
    // @ts-expect-error not a metric
    void training.getMetrics().avgLoss;
  });
});
