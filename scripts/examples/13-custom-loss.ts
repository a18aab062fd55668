// Advanced training: a loss of your own with forwardBackwardCustom. cross_entropy weighs every
// token alike, so a long answer counts as much as its length; this loss divides each answer's
// negative log-likelihood by its length^ALPHA (a length penalty in the style of machine
// translation's), then averages over the answers. The SDK gets the logprobs with `forward`, the
// function below returns the loss and its gradient with respect to each logprob, and one backward
// applies that gradient; optimStep then steps as after any forwardBackward.
import { type CustomLossFn, SignalClient, type TokensExample } from "../../src/index.js";
import { MODEL, dataloader, run } from "./data.js";

const ALPHA = 0.5;
const EPOCHS = 3;

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL, learning_rate: 0.01, seed: 3 });
  const training = signalRun.training();

  // Token examples: BOS and the prompt, then the answer; `starts` marks where each answer begins.
  const batches: { examples: TokensExample[]; starts: number[] }[] = [];
  for (const batch of dataloader) {
    const examples: TokensExample[] = [];
    const starts: number[] = [];
    for (const example of batch) {
      const { prompt, completion } = example as { prompt: string; completion: string };
      const p = (await client.tokenize(MODEL, prompt, { add_bos: true })).tokens;
      const c = (await client.tokenize(MODEL, completion)).tokens;
      examples.push({ tokens: [...p, ...c] });
      starts.push(p.length);
    }
    batches.push({ examples, starts });
  }

  /** mean over answers of -Σ logprob / length^ALPHA; ∂loss/∂logprob is -1 / (answers · length^ALPHA) on an answer's tokens, 0 elsewhere. */
  const lengthPenalised =
    (starts: number[]): CustomLossFn =>
    (logprobs) => {
      let loss = 0;
      const grads = logprobs.map((row, e) => {
        const start = starts[e]!;
        const norm = (row.length - start) ** ALPHA * logprobs.length;
        return row.map((lp, t) => {
          if (t < start) return 0;
          loss -= lp! / norm;
          return -1 / norm;
        });
      });
      return { loss, grads };
    };

  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    for (const { examples, starts } of batches) {
      const result = await training.forwardBackwardCustom(examples, lengthPenalised(starts));
      const step = await training.optimStep();
      console.log(`step ${step.step} length-penalised loss ${result.loss.toFixed(4)} grad_norm ${result.grad_norm.toFixed(4)}`);
    }
  }
  await training.close();
});
