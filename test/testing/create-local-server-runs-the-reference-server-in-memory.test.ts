import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AuthenticationError, SignalClient } from "../../src/index.js";
import { createLocalServer } from "../../src/testing/index.js";

describe("createLocalServer", () => {
  it("serves the tiny model as the default on a loopback port with its own key, its runs in memory", async () => {
    const local = await createLocalServer();
    try {
      expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(local.dataDir).toBe(":memory:");
      await using client = new SignalClient({ baseUrl: local.url, apiKey: local.apiKey });
      const models = await client.listModels();
      expect(models.data[0]).toMatchObject({ id: "signal-byte-tiny", default: true });
      expect(models.data.filter((m) => m.default)).toHaveLength(1);

      await using stranger = new SignalClient({ baseUrl: local.url, apiKey: "sk-someone-else", maxRetries: 0 });
      await expect(stranger.listModels()).rejects.toBeInstanceOf(AuthenticationError);
    } finally {
      await local.close();
    }
    await local.close(); // a second close is a no-op
  });

  it("refuses a default model the engine does not have, naming the models, and writes nothing to the temp dir", async () => {
    // A temp dir of its own (os.tmpdir() reads TMPDIR), so other test files' dirs do not count.
    const own = mkdtempSync(path.join(tmpdir(), "local-server-test-"));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      await expect(createLocalServer({ defaultModel: "signal-byte-huge" })).rejects.toThrow(/no model 'signal-byte-huge'; the models are: .*signal-byte-tiny/);
      expect(readdirSync(own).filter((name) => !name.startsWith("tsx-"))).toEqual([]); // tsx keeps its cache there
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(own, { recursive: true, force: true });
    }
  });
});
