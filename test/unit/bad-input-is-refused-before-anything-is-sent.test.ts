import { describe, expect, it } from "vitest";
import { SignalClient, ValidationError } from "../../src/index.js";
import { BASE, KEY, RUN_ID, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

function setup() {
  const script = scriptedFetch([json(200, run)]);
  return { ...script, client: new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: script.fetch }) };
}

async function rejection(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe("request validation", () => {
  it("names an out-of-range field", async () => {
    const { client, seen } = setup();
    const error = await rejection(client.createRun({ base_model: "signal-byte-base", lora_r: 1000 }));
    expect(error.path).toBe("lora_r");
    expect(error.message).toMatch(/^createRun: lora_r: /);
    expect(seen).toHaveLength(0);
  });

  it("names a misspelt field the schema would have dropped", async () => {
    const { client, seen } = setup();
    const error = await rejection(client.sample(RUN_ID, ["hi"], { max_token: 5 } as never));
    expect(error.path).toBe("max_token");
    expect(error.message).toContain("unknown field 'max_token'");
    expect(seen).toHaveLength(0);
  });

  it("names the example at fault inside a batch", async () => {
    const { client, seen } = setup();
    const error = await rejection(client.forwardBackward(RUN_ID, [{ text: "ok" }, { prompt: "p", completion: "" }] as never));
    expect(error.path).toMatch(/^batch\[1\]/);
    expect(seen).toHaveLength(0);
  });

  it("refuses an empty batch and a malformed run id", async () => {
    const { client, seen } = setup();
    expect((await rejection(client.forwardBackward(RUN_ID, []))).path).toBe("batch");
    expect((await rejection(client.getRun("../etc/passwd"))).path).toBe("run_id");
    expect((await rejection(client.downloadCheckpoint(RUN_ID, -1))).path).toBe("step");
    expect(seen).toHaveLength(0);
  });

  it("checks training-client and inference-client input too", async () => {
    const { client, seen } = setup();
    await rejection(client.training(RUN_ID).trainBatch([{ text: "x" }], { learning_rate: 5 }));
    await rejection(client.inference(RUN_ID).sample(["x"], { temperature: -1 }));
    expect(seen).toHaveLength(0);
  });
});
