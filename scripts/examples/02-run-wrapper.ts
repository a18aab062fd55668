// Simple API, example 2: the SignalRun wrapper (no run id to pass around).
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  for (const batch of dataloader) {
    await signalRun.forwardBackward(batch);
    await signalRun.optimStep();
  }

  await signalRun.saveState({ mode: "adapter" });
  await signalRun.refresh();
  console.log(`${signalRun.run_id} is at step ${signalRun.current_step}`);
});
