// Advanced inference, example 1: batched generation from a checkpoint.
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });
  await signalRun.trainBatch(dataloader[0]!);
  const checkpoint = await signalRun.saveState({ mode: "adapter" });

  const inference = client.inference(signalRun.run_id, {
    step: checkpoint.step, // the checkpoint at this step
    batchSize: 32, // 32 prompts per request
    timeout: 30_000,
  });

  const prompts = Array.from({ length: 100 }, () => ["Hello", "World"]).flat(); // 200 prompts
  const outputs = await inference.batchSample(prompts, { max_tokens: 50, temperature: 0.7 });
  console.log(`Generated ${outputs.length} responses`);
});
