import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APIResponseValidationError, SignalClient, type SignalRun } from "../../src/index.js";
import { startNewerServerProxy, type NewerServerProxy } from "../helpers/newer-server-proxy.js";
import { QA, useTestServer } from "./helpers.js";

// The real server behind a proxy that makes it look like a newer release: a field the SDK does
// not know on every JSON object, a run status and a finish_reason the SDK does not know.
const extra = { added_in_v1_1: { region: "eu-west", tier: 2 } };
const fixture = useTestServer();
let proxy: NewerServerProxy;
let drop: string[] = [];
let client: SignalClient;
let run: SignalRun;

beforeAll(async () => {
  proxy = await startNewerServerProxy({ upstream: fixture.server.url, extra, values: { status: "paused", finish_reason: "content_filter" }, drop: () => drop });
  client = new SignalClient({ apiKey: fixture.server.key, baseUrl: proxy.url, maxRetries: 0 });
  run = await client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02 });
});
afterAll(async () => {
  await client?.close();
  await proxy?.close();
});

const added = (value: unknown) => (value as { added_in_v1_1?: unknown }).added_in_v1_1;

describe("an SDK built from today's spec against a newer server", () => {
  it("getRun and listRuns pass the new status through and keep the new fields", async () => {
    const got = await client.getRun(run.run_id);
    expect(got.status).toBe("paused");
    expect(added(got)).toEqual(extra.added_in_v1_1);
    expect(added(got.optimizer)).toEqual(extra.added_in_v1_1);
    const page = await client.listRuns({ limit: 10 });
    expect(added(page)).toEqual(extra.added_in_v1_1);
    const mine = page.data.find((r) => r.run_id === run.run_id);
    expect(mine?.status).toBe("paused");
    expect(added(mine)).toEqual(extra.added_in_v1_1);
  });

  it("trainBatch, saveState and listCheckpoints keep the new fields", async () => {
    const training = client.training(run.run_id);
    const step = await training.trainBatch(QA);
    expect(step.step).toBe(1);
    expect(added(step)).toEqual(extra.added_in_v1_1);
    expect(training.getMetrics().loss_history).toHaveLength(1);
    const checkpoint = await client.saveState(run.run_id, { mode: "adapter" });
    expect(checkpoint.mode).toBe("adapter");
    expect(added(checkpoint)).toEqual(extra.added_in_v1_1);
    const checkpoints = await client.listCheckpoints(run.run_id);
    expect(checkpoints.data.map((c) => c.step)).toEqual([1]);
    expect(added(checkpoints.data[0])).toEqual(extra.added_in_v1_1);
  });

  it("sample and sampleDetailed pass the new finish_reason through", async () => {
    const inference = client.inference(run.run_id);
    const texts = await inference.sample([QA[0]!.prompt], { max_tokens: 4, temperature: 0 });
    expect(texts).toHaveLength(1);
    const detailed = await inference.sampleDetailed([QA[0]!.prompt], { max_tokens: 4, temperature: 0 });
    expect(detailed.samples[0]?.finish_reason).toBe("content_filter");
    expect(detailed.samples[0]?.text).toBe(texts[0]);
    expect(added(detailed)).toEqual(extra.added_in_v1_1);
    expect(added(detailed.usage)).toEqual(extra.added_in_v1_1);
  });

  it("still raises APIResponseValidationError when the server drops a required field (loss)", async () => {
    drop = ["loss"];
    try {
      const error = await client
        .training(run.run_id)
        .trainBatch(QA)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(APIResponseValidationError);
      expect(error).toMatchObject({ operation: "trainStep", path: "loss" });
    } finally {
      drop = [];
    }
  });

  it("with strictResponseValidation the same answers are errors (the project's own tests run so)", async () => {
    const strict = new SignalClient({ apiKey: fixture.server.key, baseUrl: proxy.url, maxRetries: 0, strictResponseValidation: true });
    try {
      await expect(strict.getRun(run.run_id)).rejects.toMatchObject({ name: "APIResponseValidationError", path: "status" });
    } finally {
      await strict.close();
    }
  });
});
