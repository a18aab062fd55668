import { describe, expect, it } from "vitest";
import { zListCheckpointsResponse } from "../../generated/zod/zod.gen.js";
import { SignalClient } from "../../src/index.js";
import { call, conform, useTestServer } from "./helpers.js";

const fixture = useTestServer();

describe("listCheckpoints", () => {
  it("pages by step with limit and after, over the wire and through the SDK", async () => {
    const client = new SignalClient({ strictResponseValidation: true, apiKey: fixture.server.key, baseUrl: fixture.server.url });
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 3 });
    for (let i = 0; i < 5; i++) {
      await run.trainBatch([{ text: `example ${i}` }]);
      await run.saveState({ mode: i % 2 === 0 ? "adapter" : "state" });
    }

    const first = await call(fixture.server, "GET", `/v1/runs/${run.run_id}/checkpoints?limit=2`);
    expect(first.status).toBe(200);
    const page = conform(zListCheckpointsResponse, first.body);
    expect(page.data.map((c) => c.step)).toEqual([1, 2]);
    expect(page).toMatchObject({ has_more: true, next_cursor: "2" });
    const last = conform(zListCheckpointsResponse, (await call(fixture.server, "GET", `/v1/runs/${run.run_id}/checkpoints?limit=2&after=4`)).body);
    expect(last.data.map((c) => c.step)).toEqual([5]);
    expect(last).toMatchObject({ has_more: false, next_cursor: null });
    expect((await call(fixture.server, "GET", `/v1/runs/${run.run_id}/checkpoints?after=not-a-step`)).status).toBe(422);

    const steps: number[] = [];
    for await (const checkpoint of run.listCheckpoints({ limit: 2 })) steps.push(checkpoint.step);
    expect(steps).toEqual([1, 2, 3, 4, 5]);
    expect((await run.listCheckpoints()).data).toHaveLength(5);
  });
});
