// Advanced inference, example 3: comparing checkpoints at different steps.
import { SignalClient } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL });

  const early = await signalRun.saveState({ mode: "adapter" });
  for (let epoch = 0; epoch < 3; epoch++) {
    for (const batch of dataloader) await signalRun.trainBatch(batch, { learning_rate: 5e-3 });
  }
  const late = await signalRun.saveState({ mode: "adapter" });

  const inferenceEarly = client.inference(signalRun.run_id, { step: early.step });
  const inferenceLate = client.inference(signalRun.run_id, { step: late.step });

  const prompt = "Q: capital of France?\nA:";
  const [outputEarly] = await inferenceEarly.sample([prompt], { max_tokens: 8, temperature: 0 });
  const [outputLate] = await inferenceLate.sample([prompt], { max_tokens: 8, temperature: 0 });

  console.log("Early checkpoint:", JSON.stringify(outputEarly));
  console.log("Late checkpoint:", JSON.stringify(outputLate));

  const bytes = await client.downloadCheckpoint(signalRun.run_id, late.step);
  console.log(`adapter_model.safetensors: ${bytes.length} bytes`);
});
