// Advanced inference, example 2: caching repeated prompts.
//
// The cache needs a pinned `step` (live weights change with every optimStep), and by default
// keeps only reproducible answers: greedy (temperature 0) or seeded sampling.
import { SignalClient } from "../../src/index.js";
import { MODEL, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });
  const checkpoint = await signalRun.saveState({ mode: "adapter" });

  const inference = client.inference(signalRun.run_id, { step: checkpoint.step });
  inference.enableCache();

  // First call goes to the API.
  await inference.sample(["What is the capital of France?"], { max_tokens: 50, temperature: 0 });
  // Second call is answered from the cache.
  const outputs = await inference.sample(["What is the capital of France?"], { max_tokens: 50, temperature: 0 });

  const stats = inference.getCacheStats();
  console.log(`Cache size: ${stats.cache_size}, hit rate ${stats.hit_rate}`, JSON.stringify(outputs[0]));

  inference.clearCache();
});
