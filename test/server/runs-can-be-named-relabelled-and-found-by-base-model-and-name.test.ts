import { describe, expect, it } from "vitest";
import { NotFoundError, SignalClient, ValidationError } from "../../src/index.js";
import { startTestServer, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const client = () => new SignalClient({ apiKey: fixture.server.key, baseUrl: fixture.server.url, maxRetries: 0, strictResponseValidation: true });

describe("runs you can name and find (the local server through the SDK)", () => {
  it("createRun takes a name and metadata; getRun returns them; a run without a name has name null", async () => {
    const c = client();
    const named = await c.createRun({ base_model: "signal-byte-tiny", name: "support-bot-v1", metadata: { project: "support-bot" } });
    expect(named).toMatchObject({ name: "support-bot-v1", metadata: { project: "support-bot" } });
    expect(await c.getRun(named.run_id)).toMatchObject({ name: "support-bot-v1", metadata: { project: "support-bot" } });
    expect((await c.createRun({ base_model: "signal-byte-tiny" })).name).toBeNull();
  });

  it("updateRun renames, replaces the metadata, removes the name with null, and leaves what it is not given", async () => {
    const c = client();
    const run = await c.createRun({ base_model: "signal-byte-tiny", name: "draft", metadata: { a: "1" } });
    const renamed = await c.updateRun(run.run_id, { name: "final" });
    expect(renamed).toMatchObject({ name: "final", metadata: { a: "1" }, current_step: 0 });
    expect(Date.parse(renamed.updated_at)).toBeGreaterThanOrEqual(Date.parse(run.updated_at));
    expect(await c.updateRun(run.run_id, { metadata: { stage: "eval" } })).toMatchObject({ name: "final", metadata: { stage: "eval" } });
    await run.update({ name: null });
    expect(run.name).toBeNull();
    expect((await c.getRun(run.run_id)).name).toBeNull();
  });

  it("a bad name or metadata value is a ValidationError naming the field; an unknown run a NotFoundError", async () => {
    const c = client();
    const run = await c.createRun({ base_model: "signal-byte-tiny" });
    await expect(c.updateRun(run.run_id, { name: "" })).rejects.toMatchObject({ name: "ValidationError", path: "name" });
    const bad = await c.updateRun(run.run_id, { metadata: { stage: 3 as unknown as string } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).path).toBe("metadata.stage");
    await expect(c.updateRun("run_0000000000000000", { name: "x" })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("listRuns filters by base_model and by name, pages through the filtered list, and sees only the caller's runs", async () => {
    const c = client();
    const tag = `find-me-${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.createRun({ base_model: "signal-byte-tiny", name: tag })).run_id);
    await c.createRun({ base_model: "signal-byte-base", name: tag });
    const tiny: string[] = [];
    for await (const run of c.listRuns({ base_model: "signal-byte-tiny", name: tag, limit: 2 })) tiny.push(run.run_id);
    expect(tiny.sort()).toEqual([...ids].sort());
    const all = await c.listRuns({ name: tag, limit: 100 });
    expect(all.data.map((r) => r.base_model).sort()).toEqual(["signal-byte-base", "signal-byte-tiny", "signal-byte-tiny", "signal-byte-tiny"]);
    for (const run of (await c.listRuns({ base_model: "signal-byte-base", limit: 100 })).data) expect(run.base_model).toBe("signal-byte-base");
    const other = new SignalClient({ apiKey: "sk-test-b", baseUrl: fixture.server.url, maxRetries: 0 });
    expect((await other.listRuns({ name: tag })).data).toEqual([]);
  });

  it("the name and metadata survive a restart", async () => {
    const server = await startTestServer(fixture.engine);
    const c = new SignalClient({ apiKey: server.key, baseUrl: server.url, maxRetries: 0 });
    const run = await c.createRun({ base_model: "signal-byte-tiny", name: "kept" });
    await c.updateRun(run.run_id, { metadata: { stage: "eval" } });
    await server.close();
    const again = await startTestServer(fixture.engine, { dataDir: server.dataDir });
    try {
      const c2 = new SignalClient({ apiKey: again.key, baseUrl: again.url, maxRetries: 0 });
      expect(await c2.getRun(run.run_id)).toMatchObject({ name: "kept", metadata: { stage: "eval" } });
    } finally {
      await again.dispose();
    }
  });
});
