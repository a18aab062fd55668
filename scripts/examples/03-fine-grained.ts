// Advanced training, example 1: fine-grained control with a TrainingClient.
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  const training = client.training(signalRun.run_id, { timeout: 2 * 60 * 60 * 1000, maxRetries: 3 }); // 2 hours

  for (const batch of dataloader) {
    const result = await training.forwardBackward(batch);
    if (result.grad_norm < 100.0) {
      await training.optimStep();
    } else {
      console.log(`Skipping step: gradient norm too high (${result.grad_norm})`);
      await training.zeroGrad();
    }
  }

  const metrics = training.getMetrics();
  console.log(`Average loss: ${metrics.avg_loss?.toFixed(4)}`);
  console.log(`Current step: ${metrics.current_step}`);

  await training.saveCheckpoint({ mode: "adapter" });
  await training.close();
});
