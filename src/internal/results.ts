import type { EmbeddingsResponse, SampleResult } from "../../generated/schema.js";

/** The texts of a `sample` result, in completion order (`prompt_index * n + sample`). */
export function textsOf(result: SampleResult): string[] {
  return [...result.samples].sort((a, b) => a.index - b.index).map((s) => s.text);
}

/** The vectors of an `embeddings` result, in input order. */
export function vectorsOf(result: EmbeddingsResponse): number[][] {
  return [...result.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
}
