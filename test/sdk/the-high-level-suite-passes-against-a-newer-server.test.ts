import { afterAll, describe, expect, it } from "vitest";
import { classify } from "../../scripts/spec-compat.mjs";
import { SignalClient } from "../../src/index.js";
import { ADDED_FIELD, ADDED_VALUE, writeNewerSpec } from "../helpers/newer-spec.js";
import { startPrism } from "../helpers/prism.js";
import { setSuiteTarget } from "./suite-target.js";

// A newer release of the service, as a Prism mock of a spec derived from ours with additive
// changes only (see writeNewerSpec). The SDK built from today's spec must keep working against
// it with its default reader: the whole high-level suite runs here again, unchanged.
const spec = writeNewerSpec();
const prism = await startPrism({ kind: "mock", spec: spec.path });
afterAll(async () => {
  await prism.stop();
  spec.remove();
});
setSuiteTarget({ baseUrl: prism.url, strictResponseValidation: false });
await import("./every-high-level-method-works-against-the-prism-mock.test.js");

const RUN = "run_8f3a2c1d9e7b4a60";
const client = () => new SignalClient({ apiKey: "sk-prism-test-key", baseUrl: prism.url, maxRetries: 0 });
const added = (value: unknown) => (value as Record<string, unknown> | undefined)?.[ADDED_FIELD];

describe("what the newer server adds", () => {
  it("is additive by the breaking-change gate", async () => {
    const result = await classify(new URL("../../openapi/signal.yaml", import.meta.url).pathname, spec.path);
    expect(result.changes.filter((c) => c.impact === "major")).toEqual([]);
    expect(result.bump).toBe("minor");
  });

  it("is readable at runtime: the new field on results, the new status and finish_reason", async () => {
    const c = client();
    const run = await c.getRun(RUN);
    expect(run.status).toBe("paused");
    expect(added(run)).toBe(ADDED_VALUE);
    expect(added(run.optimizer)).toBe(ADDED_VALUE);
    expect(added(await c.trainStep(RUN, [{ text: "x" }]))).toBe(ADDED_VALUE);
    const detailed = await c.inference(RUN).sampleDetailed(["Q:"]);
    expect(detailed.samples[0]?.finish_reason).toBe("content_filter");
    expect(added(detailed.samples[0])).toBe(ADDED_VALUE);
    expect(added(await c.getHealth())).toBe(ADDED_VALUE);
  });

  it("takes the new optional request field through extraBody, past the SDK's own check", async () => {
    const c = client();
    const params = { base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 };
    await expect(c.createRun({ ...params, priority: "high" } as never)).rejects.toMatchObject({ name: "ValidationError" });
    const run = await c.createRun(params, { extraBody: { priority: "high" } });
    expect(run.run_id).toBe(RUN);
    // Prism checks requests against the newer spec: a value outside its enum is refused.
    await expect(c.createRun(params, { extraBody: { priority: "urgent" } })).rejects.toMatchObject({ status: 422 });
  });

  it("strict reading (what the project's own tests use) would reject it", async () => {
    const strict = new SignalClient({ apiKey: "sk-prism-test-key", baseUrl: prism.url, maxRetries: 0, strictResponseValidation: true });
    await expect(strict.getRun(RUN)).rejects.toMatchObject({ name: "APIResponseValidationError", path: "status" });
  });
});
