import type { ForwardBackwardResult, TokensExample } from "../generated/schema.js";
import { APIPromise } from "./core/api-promise.js";
import type { RequestOptions } from "./core/request-options.js";
import { ValidationError } from "./errors.js";
import type { Api } from "./internal/api.js";
import { callOperation } from "./internal/call-operation.js";

/** What a custom loss returns: its value and its gradient with respect to each logprob. */
export interface CustomLossOutput {
  /** The loss of the batch (reported as the call's `loss`). */
  loss: number;
  /**
   * `grads[e][i]` = ∂loss/∂`logprobs[e][i]`: one array per example, as long as its `tokens`;
   * `grads[e][0]` is unused (give 0; `logprobs[e][0]` is null).
   */
  grads: number[][];
}

/**
 * A loss computed on the client: given `logprobs[e][i]` (the log-probability of token i of
 * example e under the live weights, `[e][0]` null, as `forward` returns them) and the batch, it
 * returns the loss and its gradient with respect to each logprob.
 */
export type CustomLossFn = (logprobs: (number | null)[][], batch: TokensExample[]) => CustomLossOutput | Promise<CustomLossOutput>;

/** What `forwardBackwardCustom` resolves to: the backward's result with the custom loss as `loss`, and the logprobs it was computed on. */
export type ForwardBackwardCustomResult = ForwardBackwardResult & {
  /** The logprobs `forward` returned, that the loss function was given. */
  logprobs: (number | null)[][];
};

function invalid(path: string, message: string): ValidationError {
  return new ValidationError(`forwardBackwardCustom: ${path}: ${message}`, [{ path, message }]);
}

/**
 * Checks a custom loss's batch and returns what `forward` is sent: the tokens of each example.
 * @throws ValidationError naming `batch` or `batch[i].tokens`.
 */
function customForwardBatch(batch: TokensExample[]): { tokens: number[] }[] {
  if (!Array.isArray(batch) || batch.length === 0) throw invalid("batch", "must be a non-empty array of {tokens} examples");
  return batch.map((e, i) => {
    if (typeof e !== "object" || e === null || !Array.isArray(e.tokens))
      throw invalid(`batch[${i}].tokens`, "a custom loss takes token examples: {tokens: number[]} (plus any fields the loss function reads)");
    return { tokens: e.tokens };
  });
}

/**
 * Checks what the loss function returned against the batch and turns its gradient into the
 * `linear` loss's examples: `advantages[i] = -grads[e][i]` (that loss is -Σ A·logprob, so its
 * gradient with respect to each logprob is the one given).
 * @throws ValidationError naming the field of the return value (`loss`, `grads[1][3]`, ...).
 */
function customBackwardBatch(batch: TokensExample[], out: unknown): { loss: number; examples: { tokens: number[]; advantages: number[] }[] } {
  if (typeof out !== "object" || out === null) throw invalid("lossFn()", `must return { loss, grads }; got ${out === null ? "null" : typeof out}`);
  const { loss, grads } = out as Partial<CustomLossOutput>;
  if (typeof loss !== "number" || !Number.isFinite(loss)) throw invalid("loss", `the loss function's loss must be a finite number; got ${String(loss)}`);
  if (!Array.isArray(grads) || grads.length !== batch.length)
    throw invalid(
      "grads",
      `the loss function's grads must be an array with one array per example (${batch.length}); got ${Array.isArray(grads) ? `${grads.length} entries` : typeof grads}`,
    );
  const examples = batch.map((e, i) => {
    const g = grads[i] as unknown;
    if (!Array.isArray(g) || g.length !== e.tokens.length)
      throw invalid(
        `grads[${i}]`,
        `must be an array as long as batch[${i}].tokens (${e.tokens.length}); got ${Array.isArray(g) ? `length ${g.length}` : typeof g}`,
      );
    const advantages = g.map((v: unknown, t) => {
      if (t === 0) return 0;
      if (typeof v !== "number" || !Number.isFinite(v)) throw invalid(`grads[${i}][${t}]`, `must be a finite number; got ${String(v)}`);
      return v === 0 ? 0 : -v;
    });
    return { tokens: e.tokens, advantages };
  });
  return { loss, examples };
}

/**
 * The two calls of a custom loss: `forward` with `forwardOptions`, the loss function, then the
 * `linear` backward with `backwardOptions`. Resolves (and exposes the raw response) as the backward.
 * @throws ValidationError before anything is sent for a bad batch, before the backward for a bad return value.
 */
export function customLossCall(
  api: Api,
  runId: string,
  batch: TokensExample[],
  lossFn: CustomLossFn,
  forwardOptions: RequestOptions | undefined,
  backwardOptions: RequestOptions | undefined,
): APIPromise<ForwardBackwardCustomResult> {
  const path = { run_id: runId };
  let backward: APIPromise<ForwardBackwardResult> | undefined;
  let custom: { loss: number; logprobs: (number | null)[][] } | undefined;
  const raw = (async () => {
    const forwardBatch = customForwardBatch(batch);
    const fwd = await callOperation(api, "forward", { path, body: { batch: forwardBatch } }, forwardOptions);
    const { loss, examples } = customBackwardBatch(batch, await lossFn(fwd.logprobs, batch));
    custom = { loss, logprobs: fwd.logprobs };
    backward = callOperation(api, "forwardBackward", { path, body: { batch: examples, loss_fn: "linear" } }, backwardOptions);
    return backward._raw();
  })();
  return new APIPromise<ForwardBackwardCustomResult>(raw, async () => ({ ...(await (backward as APIPromise<ForwardBackwardResult>)), ...custom! }));
}
