// Simple API, example 1: basic training, everything from one client.
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient(); // SIGNAL_API_KEY, SIGNAL_BASE_URL (default http://127.0.0.1:7300)

  const signalRun = await client.createRun({ base_model: MODEL, lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 });

  for (const batch of dataloader) {
    const result = await client.forwardBackward(signalRun.run_id, batch);
    console.log(`Loss: ${result.loss.toFixed(4)}`);
    await client.optimStep(signalRun.run_id);
  }

  const checkpoint = await client.saveState(signalRun.run_id, { mode: "adapter" });
  console.log(`Saved step ${checkpoint.step} (${checkpoint.size_bytes} bytes)`);
});
