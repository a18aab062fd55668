import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** One ```ts block of the README, with the heading it sits under. */
export interface ReadmeBlock {
  index: number;
  line: number;
  heading: string;
  code: string;
}

/** Every ```ts block of README.md, in order. */
export function readmeBlocks(): ReadmeBlock[] {
  const lines: string[] = readFileSync(join(root, "README.md"), "utf8").split("\n");
  const blocks: ReadmeBlock[] = [];
  let heading = "";
  let open: { line: number; code: string[] } | undefined;
  let other = false; // inside a block of another language (sh, json, python): its "# ..." lines are not headings
  lines.forEach((text, i) => {
    if (open) {
      if (text.startsWith("```")) {
        blocks.push({ index: blocks.length + 1, line: open.line, heading, code: open.code.join("\n") });
        open = undefined;
      } else open.code.push(text);
    } else if (other) {
      if (text.startsWith("```")) other = false;
    } else if (/^```ts\s*$/.test(text)) open = { line: i + 1, code: [] };
    else if (text.startsWith("```")) other = true;
    else if (/^#{1,4} /.test(text)) heading = text.replace(/^#+ /, "");
  });
  return blocks;
}

/** The package's entries as paths of this checkout, so a block runs and compiles against src/. */
export function withLocalImports(code: string): string {
  return code
    .replaceAll('"frontier-signal/node"', JSON.stringify(join(root, "src/node/index.ts")))
    .replaceAll('"frontier-signal/testing"', JSON.stringify(join(root, "src/testing/index.ts")))
    .replaceAll('"frontier-signal/server"', JSON.stringify(join(root, "src/server/index.ts")))
    .replaceAll('"frontier-signal"', JSON.stringify(join(root, "src/index.ts")));
}

/**
 * Blocks that are compiled but not run, and why: each needs something a test cannot give it
 * here (another server, a model folder, a body a real server refuses on purpose).
 */
export const COMPILE_ONLY: Record<string, string> = {
  "Newer servers: the tolerant reader and the escape hatches": "sends fields only a newer server accepts",
  "The low-level client": "calls a server on port 7300",
  "The local server": "starts a server with a data dir in the working directory",
  "Fine-tune a Hugging Face model": "needs a Hugging Face checkpoint folder",
  Conversations: "reads a conversations file of your own (train.jsonl)",
  "Watching a run": "waits for step 1000, which the examples never reach",
  "Testing your app": "starts Prism (the testing entry's own tests run it)",
};
