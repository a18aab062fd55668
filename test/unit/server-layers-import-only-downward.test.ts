import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// src/server's layers, each allowed to import only the layers after it: http/ (the pipeline)
// uses handlers/, which use runs/, which use store/; all of them may use wire/ (the contract's
// error and response writing) and engine/. Nothing below http/ knows about HTTP routing.
const server = new URL("../../src/server/", import.meta.url).pathname;
const LAYERS = ["http", "handlers", "runs", "store", "wire"] as const;
const MAY_IMPORT: Record<(typeof LAYERS)[number], readonly string[]> = {
  http: ["handlers", "runs", "store", "wire", "engine"],
  handlers: ["runs", "store", "wire", "engine"],
  runs: ["store", "wire", "engine"],
  store: ["wire", "engine"],
  wire: [],
};

function filesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

describe("src/server's layers", () => {
  it("import only the layers below them", () => {
    const wrong: string[] = [];
    for (const layer of LAYERS) {
      for (const file of filesOf(join(server, layer))) {
        for (const [, target] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
          const resolved = relative(server, join(file, "..", target!));
          const other = resolved.split("/")[0]!;
          if (other !== layer && (LAYERS as readonly string[]).concat("engine").includes(other) && !MAY_IMPORT[layer].includes(other)) {
            wrong.push(`${relative(server, file)} imports ${resolved}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
