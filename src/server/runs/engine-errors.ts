import { ApiError } from "../wire/api-error.js";
import { EngineError } from "../engine/types.js";

/**
 * Maps an engine failure to the API's error: the engine's own codes become the caller's errors
 * (a 4xx) with the engine's message and `param`; anything else is returned as it is, for the
 * pipeline's 500.
 *
 * @param renameParam rewrites the engine's field path for an API whose fields differ
 *   (completions call `prompts[i]` `prompt[i]`).
 */
export function toApiError(error: unknown, renameParam: (param: string) => string = (p) => p): unknown {
  if (!(error instanceof EngineError)) return error;
  const param = error.param === undefined ? undefined : renameParam(error.param);
  switch (error.code) {
    case "context_length_exceeded":
    case "invalid_example":
    case "sample_too_large":
      return new ApiError(error.code, error.message, param);
    case "nothing_accumulated":
      return new ApiError("nothing_accumulated", "No gradients are accumulated: call forward_backward before optim_step.");
    case "non_finite_gradient":
      return new ApiError("non_finite_gradient", error.message, param);
    case "model_not_found":
      return new ApiError("model_not_found", error.message, param ?? "base_model");
    default:
      // run_not_found / adapter_not_found here mean the server's bookkeeping and the engine's
      // disagree, and `aborted` only reaches here if the client is gone: neither is the caller's fault.
      return error;
  }
}
