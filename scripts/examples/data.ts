/**
 * Tiny data shared by the examples: a handful of question/answer pairs in batches of two, so
 * every example runs in seconds against the local server (`npx signal serve`).
 */
import type { Batch } from "../../src/index.js";

export const MODEL = "signal-byte-base";

const pairs: Array<[string, string]> = [
  ["Q: capital of France?\nA:", " Paris"],
  ["Q: capital of Italy?\nA:", " Rome"],
  ["Q: capital of Spain?\nA:", " Madrid"],
  ["Q: capital of Japan?\nA:", " Tokyo"],
];

/** The dataloader of the guide: a list of batches. */
export const dataloader: Batch[] = [
  pairs.slice(0, 2).map(([prompt, completion]) => ({ prompt, completion })),
  pairs.slice(2, 4).map(([prompt, completion]) => ({ prompt, completion })),
];

/** Runs `main` and exits non-zero with the error's message when it fails. */
export function run(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exitCode = 1;
  });
}
