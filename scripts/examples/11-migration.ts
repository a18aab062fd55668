// Migration: from the simple API to the advanced training and inference APIs.
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  // Before (simple API)
  for (const batch of dataloader) {
    await client.forwardBackward(signalRun.run_id, batch);
    await client.optimStep(signalRun.run_id);
  }
  const before = await client.sample(signalRun.run_id, Array(10).fill("Hello"), { max_tokens: 50 });

  // After (advanced training API): one round trip per step, metrics tracked for you
  const training = client.training(signalRun.run_id, { timeout: 2 * 60 * 60 * 1000 });
  for (const batch of dataloader) {
    await training.trainBatch(batch);
  }
  console.log(`Final avg loss: ${training.getMetrics().avg_loss}`);

  // After (advanced inference API): batched automatically
  const inference = client.inference(signalRun.run_id, { batchSize: 32 });
  const after = await inference.batchSample(Array(100).fill("Hello"), { max_tokens: 50 });
  console.log(`simple: ${before.length} outputs, batched: ${after.length} outputs`);
  await training.close();
});
