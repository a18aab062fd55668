// Advanced training, example 3: automatic cleanup with `await using` (the context manager).
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  {
    await using training = client.training(signalRun.run_id);
    for (const batch of dataloader) {
      await training.trainBatch(batch);
    }
    // Save before leaving the block.
    await training.saveCheckpoint({ mode: "adapter" });
  } // training.close() ran here: queued calls settled, new ones refused.

  console.log("Session closed");
});
