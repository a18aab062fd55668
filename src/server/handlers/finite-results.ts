import { ApiError } from "../wire/api-error.js";

/**
 * Whether every number is finite (a `null` at index 0 of a logprobs row, where the spec puts
 * one, is allowed). JSON has no NaN: `JSON.stringify` would write `null` where the spec says
 * number, which a typed client then rejects.
 */
export function allFinite(values: readonly (number | null | undefined)[], nullFirst = false): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (nullFirst && i === 0 && v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) return false;
  }
  return true;
}

/**
 * The answer to a read whose weights give numbers that are not finite: the inputs are checked,
 * so the run's weights are at fault, poisoned by a step an older server applied from an
 * overflowing gradient (this one never applies one).
 */
export function nonFiniteWeights(runId: string, step: number): ApiError {
  return new ApiError(
    "non_finite_weights",
    `The weights of run ${runId} at step ${step} are not finite (a step an older server applied from an overflowing gradient): restore a checkpoint saved before it (POST /v1/runs/${runId}/restore), or create a new run.`,
  );
}
