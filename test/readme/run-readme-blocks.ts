// Run by the-readmes-typescript-blocks-compile-and-run.test.ts in a child process whose working
// directory holds facts.jsonl: gives the README's examples what they take as already there
// (`client`, `run`, `runId`, `dataloader`, `prompts`, `inference`, `checkpoint`, `batch1..3`) on a
// createLocalServer, then imports each block (argv: the block files) in README order. Any
// deprecation warning (a renamed option or method) is reported with the results.
import { pathToFileURL } from "node:url";
import { SignalClient, batches } from "../../src/index.js";
import { readJsonl } from "../../src/node/index.js";
import { createLocalServer } from "../../src/testing/index.js";

const warnings: string[] = [];
console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
const quiet = () => {};

await using local = await createLocalServer();
const client = new SignalClient({
  apiKey: local.apiKey,
  baseUrl: local.url,
  logger: { warn: (m: string) => warnings.push(m), error: quiet, info: quiet, debug: quiet },
});
const run = await client.createRun({ base_model: "signal-byte-tiny" });
const facts = batches(readJsonl("facts.jsonl"), { batchSize: 4 });
for await (const batch of facts) await run.trainBatch(batch);
const checkpoint = await run.saveState({ mode: "adapter" });
const prompts = ["Q: capital of France?\nA:", "Q: capital of Japan?\nA:", "Q: capital of Italy?\nA:"];
Object.assign(globalThis, {
  client,
  run,
  runId: run.run_id,
  checkpoint,
  dataloader: batches(readJsonl("facts.jsonl"), { batchSize: 4, shuffle: true, seed: 0 }),
  prompts,
  inference: client.inference(run.run_id),
  batch1: prompts.slice(0, 1),
  batch2: prompts.slice(1, 2),
  batch3: prompts.slice(2),
});

const ran: string[] = [];
for (const file of process.argv.slice(2)) {
  try {
    await import(pathToFileURL(file).href);
    ran.push(file);
  } catch (error) {
    console.log(JSON.stringify({ ran, failed: file, error: String((error as Error)?.stack ?? error), warnings }));
    process.exit(0);
  }
}
console.log(JSON.stringify({ ran, warnings }));
