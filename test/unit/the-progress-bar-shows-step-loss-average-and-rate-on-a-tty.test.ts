import { describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import { recordingStream } from "./helpers/recording-stream.js";
import { BASE, KEY, RUN_ID, json, scriptedFetch, trainStepResult } from "./helpers/scripted-fetch.js";

const fakeTerminal = () => recordingStream({ tty: true });

describe("trainEpoch on a TTY", () => {
  it("draws a bar with the final step, loss, running average and total", async () => {
    let step = 0;
    const { fetch } = scriptedFetch([() => json(200, trainStepResult(++step, step))]);
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).training(RUN_ID);
    const terminal = fakeTerminal();
    await training.trainEpoch([[{ text: "a" }], [{ text: "b" }], [{ text: "c" }]], { progress: { stream: terminal.stream } });
    const screen = terminal.text();
    expect(screen).toContain("3/3 | step 3 | loss 3.0000 | avg 2.0000");
    expect(screen).toMatch(/tok\/s \| ETA/);
  });

  it("without a known length shows the count and no ETA", async () => {
    let step = 0;
    const { fetch } = scriptedFetch([() => json(200, trainStepResult(++step, 1))]);
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).training(RUN_ID);
    const terminal = fakeTerminal();
    async function* batches() {
      yield [{ text: "a" }];
      yield [{ text: "b" }];
    }
    await training.trainEpoch(batches(), { progress: { stream: terminal.stream } });
    expect(terminal.text()).toContain("train 2 batches | step 2 | loss 1.0000");
    expect(terminal.text()).not.toContain("ETA");
  });
});
