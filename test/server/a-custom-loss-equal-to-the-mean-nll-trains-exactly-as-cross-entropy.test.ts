import { describe, expect, it } from "vitest";
import { type CustomLossFn, type CustomLossOutput, SignalClient, type TokensExample, ValidationError } from "../../src/index.js";
import { useTestClient, useTestServer } from "./helpers.js";

// forwardBackwardCustom against the local server over HTTP: the logprobs come from `forward`, the
// gradient goes back with one `linear` backward, and a custom loss equal to the mean NLL must
// train exactly as cross_entropy does.

const fixture = useTestServer();
const sdk = useTestClient(fixture, { strictResponseValidation: true });

/** Byte ids of texts after BOS (256): token examples of the tiny byte model. */
const tokensOf = (text: string) => [256, ...new TextEncoder().encode(text)];
const BATCHES: TokensExample[][] = [
  [{ tokens: tokensOf("Q: red?\nA: apple") }, { tokens: tokensOf("Q: sky?\nA: blue, mostly") }],
  [{ tokens: tokensOf("Q: gold?\nA: sun") }, { tokens: tokensOf("2+2=4") }],
];

/** The mean negative log-likelihood over every target position, and its gradient -1/N. */
const meanNll = (logprobs: (number | null)[][]): CustomLossOutput => {
  const n = logprobs.reduce((a, row) => a + row.length - 1, 0);
  const loss = -logprobs.reduce((a, row) => a + row.slice(1).reduce((b: number, v) => b + v!, 0), 0) / n;
  return { loss, grads: logprobs.map((row) => row.map((_, i) => (i === 0 ? 0 : -1 / n))) };
};

const newRun = () => sdk.client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02, seed: 5 });

async function adapterOf(runId: string): Promise<Uint8Array> {
  const saved = await sdk.client.saveState(runId, { mode: "adapter" });
  return sdk.client.downloadCheckpoint(runId, saved.step);
}

describe("forwardBackwardCustom", () => {
  it("a mean-NLL custom loss trains exactly as cross_entropy: same grad_norm, same adapter and forward, with TrainingClient and SignalRun", async () => {
    const reference = await newRun();
    const viaTraining = await newRun();
    const viaRun = await newRun();
    const ce = sdk.client.training(reference.run_id);
    const custom = sdk.client.training(viaTraining.run_id);
    for (const batch of BATCHES) {
      const want = await ce.forwardBackward(batch);
      const got = await custom.forwardBackwardCustom(batch, meanNll);
      const gotRun = await viaRun.forwardBackwardCustom(batch, meanNll);
      expect(got.grad_norm).toBe(want.grad_norm);
      expect(gotRun.grad_norm).toBe(want.grad_norm);
      expect(got.num_tokens).toBe(want.num_tokens);
      // The result's loss is the loss function's, of forward's logprobs (over the tokens a sample
      // can produce); cross_entropy's is over the whole vocabulary: higher by about the log of the
      // share of BOS and PAD. The gradient is the same, as the grad_norm and the adapter show.
      expect(got.loss).toBe(meanNll(got.logprobs).loss);
      expect(want.loss - got.loss).toBeGreaterThan(0);
      expect(want.loss - got.loss).toBeLessThan(0.05);
      expect(got.logprobs.map((row) => row.length)).toEqual(batch.map((e) => e.tokens.length));
      await ce.optimStep();
      await custom.optimStep();
      await viaRun.optimStep();
    }
    const [a, b, c] = await Promise.all([adapterOf(reference.run_id), adapterOf(viaTraining.run_id), adapterOf(viaRun.run_id)]);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(true);
    const probe = [{ tokens: tokensOf("Q: red?\nA: apple") }];
    expect((await sdk.client.forward(viaTraining.run_id, probe)).logprobs).toEqual((await sdk.client.forward(reference.run_id, probe)).logprobs);
    // A loss that is not the mean NLL trains differently (the gradient sent is the one given).
    const other = await newRun();
    const half: CustomLossFn = (lp) => {
      const out = meanNll(lp);
      return { loss: out.loss / 2, grads: out.grads.map((row) => row.map((g) => g / 2)) };
    };
    const halved = await other.forwardBackwardCustom(BATCHES[0]!, half);
    const fresh = await newRun();
    const full = await fresh.forwardBackward(BATCHES[0]!);
    expect(halved.grad_norm).toBeCloseTo(full.grad_norm / 2, 6);
  });

  it("un-awaited custom calls and steps apply in call order, each once, as awaited ones do", async () => {
    const serialRun = await newRun();
    const serial = sdk.client.training(serialRun.run_id, { maxInFlight: 1 });
    const serialResults: number[] = [];
    for (const batch of BATCHES) {
      serialResults.push((await serial.forwardBackwardCustom(batch, meanNll)).grad_norm);
      await serial.optimStep();
    }
    const pipelinedRun = await newRun();
    const pipelined = sdk.client.training(pipelinedRun.run_id);
    const calls = BATCHES.flatMap((batch) => [pipelined.forwardBackwardCustom(batch, meanNll), pipelined.optimStep()]);
    const results = await Promise.all(calls);
    expect([results[0]!, results[2]!].map((r) => (r as { grad_norm: number }).grad_norm)).toEqual(serialResults);
    expect(results.map((r) => r.step)).toEqual([0, 1, 1, 2]);
    expect((await pipelinedRun.refresh()).current_step).toBe(2);
    expect(Buffer.from(await adapterOf(pipelinedRun.run_id)).equals(Buffer.from(await adapterOf(serialRun.run_id)))).toBe(true);
  });

  it("an answer lost on the way back is retried and applied once", async () => {
    let dropped = 0;
    const client = new SignalClient({
      apiKey: fixture.server.key,
      baseUrl: fixture.server.url,
      fetch: async (request) => {
        const response = await fetch(request);
        // The server applied the call; the client never hears of it.
        if (request.url.endsWith("/forward_backward") && dropped++ === 0) throw new TypeError("fetch failed: the connection dropped");
        return response;
      },
    });
    const run = await client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02, seed: 5 });
    const training = client.training(run.run_id, { backoff: { kind: "immediate", initialDelay: 0, maxDelay: 0 } });
    const result = await training.forwardBackwardCustom(BATCHES[0]!, meanNll);
    expect(dropped).toBe(2);
    expect(result.accumulated_calls).toBe(1);
    const reference = await newRun();
    expect(result.grad_norm).toBe((await reference.forwardBackward(BATCHES[0]!)).grad_norm);
    await client.close();
  });

  it("a return value of the wrong shape is a ValidationError naming the field, before the backward, and nothing accumulates", async () => {
    const run = await newRun();
    const training = sdk.client.training(run.run_id);
    const bad: [CustomLossFn, string][] = [
      [(lp) => ({ ...meanNll(lp), grads: meanNll(lp).grads.map((row, e) => row.map((g, i) => (e === 1 && i === 3 ? Number.NaN : g))) }), "grads[1][3]"],
      [(lp) => ({ ...meanNll(lp), grads: meanNll(lp).grads.map((row) => row.slice(1)) }), "grads[0]"],
      [(lp) => ({ ...meanNll(lp), grads: meanNll(lp).grads.slice(1) }), "grads"],
      [(lp) => ({ grads: meanNll(lp).grads }) as never, "loss"],
      [() => undefined as never, "lossFn()"],
    ];
    for (const [lossFn, path] of bad) {
      const error = await training.forwardBackwardCustom(BATCHES[0]!, lossFn).catch((e: unknown) => e);
      expect(error, path).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe(path);
      expect((error as ValidationError).message).toContain(path);
    }
    const notTokens = await training.forwardBackwardCustom([{ text: "abc" } as never], meanNll).catch((e: unknown) => e);
    expect((notTokens as ValidationError).path).toBe("batch[0].tokens");
    // Nothing reached the accumulator: the next step has nothing to apply.
    const step = await training.optimStep().catch((e: unknown) => e);
    expect((step as { code?: string }).code).toBe("nothing_accumulated");
  });
});
