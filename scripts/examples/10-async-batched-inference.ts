// Async support, example 2: several batchSample calls at once on one AsyncInferenceClient.
import { AsyncInferenceClient, SignalClient, type InferenceClient } from "../../src/index.js";
import { MODEL, run } from "./data.js";

async function inferBatch(inference: InferenceClient, prompts: string[]): Promise<string[]> {
  return inference.batchSample(prompts, { max_tokens: 50 });
}

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  await using inference = new AsyncInferenceClient({
    runId: signalRun.run_id,
    apiKey: process.env.SIGNAL_API_KEY,
    baseUrl: client.baseUrl,
    batchSize: 32,
  });

  const batch1 = ["prompt1", "prompt2"];
  const batch2 = ["prompt3", "prompt4"];
  const batch3 = ["prompt5", "prompt6"];

  const results = await Promise.all([inferBatch(inference, batch1), inferBatch(inference, batch2), inferBatch(inference, batch3)]);
  console.log(`Processed ${results.reduce((n, r) => n + r.length, 0)} prompts concurrently`);
});
