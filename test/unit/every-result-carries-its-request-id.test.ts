import { describe, expect, it } from "vitest";
import { AsyncTrainingClient, SignalClient } from "../../src/index.js";
import { BASE, json, KEY, run, RUN_ID, sampleResponse, scriptedFetch } from "./helpers/scripted-fetch.js";

describe("request ids", () => {
  it("batchSample carries each chunk's request id, in input order, and per-chunk idempotency keys", async () => {
    const { fetch, seen } = scriptedFetch([
      async (_request, entry) => {
        const prompts = (JSON.parse(entry.body) as { prompts: string[] }).prompts;
        // The first chunk answers last, so completion order differs from input order.
        if (prompts[0] === "p0") await new Promise((resolve) => setTimeout(resolve, 20));
        const response = sampleResponse(prompts);
        const headers = new Headers(response.headers);
        headers.set("x-request-id", `req_${prompts[0]}`);
        return new Response(await response.text(), { status: 200, headers });
      },
    ]);
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 2 });
    const texts = await inference.batchSample(["p0", "p1", "p2", "p3", "p4"], {}, { idempotencyKey: "job-7" });
    expect(texts._request_ids).toEqual(["req_p0", "req_p2", "req_p4"]);
    expect(texts._request_id).toBe("req_p0");
    expect(JSON.stringify(texts)).toBe(JSON.stringify(["out:p0", "out:p1", "out:p2", "out:p3", "out:p4"]));
    expect(seen.map((s) => s.headers.get("idempotency-key")).sort()).toEqual(["job-7:0", "job-7:2", "job-7:4"]);
  });

  it("refresh() takes the request id of the new read", async () => {
    let n = 0;
    const { fetch } = scriptedFetch([() => json(200, { ...run, current_step: n * 10 }, { "x-request-id": `req_get_${++n}` })]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const signalRun = await client.getRun(RUN_ID);
    expect(signalRun._request_id).toBe("req_get_1");
    const same = await signalRun.refresh();
    expect(same).toBe(signalRun);
    expect(signalRun._request_id).toBe("req_get_2");
    expect(signalRun.current_step).toBe(10);
  });
});

describe("a TrainingClient on a run at step 500", () => {
  const at500 = () =>
    scriptedFetch([
      (_request, entry) =>
        entry.url.endsWith("/zero_grad")
          ? json(200, { step: 500, discarded_calls: 0 })
          : json(200, {
              object: "checkpoint",
              checkpoint_id: "ckpt_1",
              run_id: RUN_ID,
              step: 500,
              mode: "adapter",
              size_bytes: 10,
              created_at: run.created_at,
              adapter_config: {
                peft_type: "LORA",
                task_type: "CAUSAL_LM",
                base_model_name_or_path: "signal-byte-tiny",
                r: 8,
                lora_alpha: 16,
                target_modules: ["q_proj", "v_proj"],
              },
            }),
    ]);

  it("made with client.training(runId) learns the step from its first answer instead of reporting 0", async () => {
    const { fetch } = at500();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).training(RUN_ID);
    expect(training.getMetrics().current_step).toBeNull();
    await training.zeroGrad();
    expect(training.getMetrics().current_step).toBe(500);
  });

  it("made with new AsyncTrainingClient learns it too, from a saveCheckpoint", async () => {
    const { fetch } = at500();
    const training = new AsyncTrainingClient({ runId: RUN_ID, apiKey: KEY, baseUrl: BASE, fetch });
    await training.saveCheckpoint();
    expect(training.getMetrics().current_step).toBe(500);
    await training.close();
  });
});
