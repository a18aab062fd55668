// Advanced training, example 2: trainBatch (one round trip) and trainEpoch (progress bar).
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  const training = signalRun.training({ timeout: 2 * 60 * 60 * 1000 });

  for (const batch of dataloader) {
    const result = await training.trainBatch(batch, { learning_rate: 1e-4 }); // override the learning rate
    console.log(`Step ${result.step}: loss=${result.loss.toFixed(4)}`);
  }

  // Or a full epoch with a progress bar (plain lines when stderr is not a terminal).
  const epoch = await training.trainEpoch(dataloader, { progress: true });
  console.log(`Epoch complete: avg_loss=${epoch.avg_loss?.toFixed(4)}`);
  await training.close();
});
