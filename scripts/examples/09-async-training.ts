// Async support, example 1: a standalone AsyncTrainingClient with its own pool.
import { AsyncTrainingClient, SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  await using training = new AsyncTrainingClient({
    runId: signalRun.run_id,
    apiKey: client.apiKey,
    baseUrl: client.baseUrl,
  });
  for (const batch of dataloader) {
    const result = await training.trainBatch(batch);
    console.log(`Loss: ${result.loss.toFixed(4)}`);
  }
  await training.saveCheckpoint({ mode: "adapter" });
});
