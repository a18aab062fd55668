import { afterEach, describe, expect, it, vi } from "vitest";
import { SignalClient } from "../../src/index.js";
import { recordingStream } from "./helpers/recording-stream.js";
import { BASE, KEY, RUN_ID, json, scriptedFetch, trainStepResult } from "./helpers/scripted-fetch.js";

function trainer() {
  let step = 0;
  const { fetch } = scriptedFetch([() => json(200, trainStepResult(++step, 1))]);
  return new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).training(RUN_ID);
}
const batches = Array.from({ length: 12 }, () => [{ text: "a" }]);

describe("trainEpoch off a TTY", () => {
  const isTTY = process.stderr.isTTY;
  afterEach(() => {
    process.stderr.isTTY = isTTY;
    vi.restoreAllMocks();
  });

  it("prints nothing to a non-TTY stderr by default", async () => {
    process.stderr.isTTY = false;
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const result = await trainer().trainEpoch(batches);
    expect(result.steps).toBe(12);
    expect(write.mock.calls.map((c) => String(c[0])).filter((line) => line.includes("train"))).toEqual([]);
  });

  it("writes plain lines when asked with progress: true", async () => {
    process.stderr.isTTY = false;
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await trainer().trainEpoch(batches, { progress: true });
    const lines = write.mock.calls.map((c) => String(c[0])).filter((line) => line.startsWith("train "));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("train 10/12 step 10 loss 1.0000");
  });

  it("writes plain lines to a stream it is given, every `every` steps", async () => {
    const log = recordingStream({ tty: false });
    await trainer().trainEpoch(batches, { progress: { stream: log.stream, every: 5 } });
    expect(log.text().trim().split("\n")).toHaveLength(3);
  });
});
