import type { ForwardBackwardRequest } from "../../generated/schema.js";
import type { RequestOptions } from "../core/request-options.js";

/**
 * The `(params, options)` of a `forwardBackward` call, which may also be the older
 * `(options)`: a second argument without `loss_fn` / `loss_fn_config` and no third is options.
 */
export function lossAndOptions(
  second: Omit<ForwardBackwardRequest, "batch"> | RequestOptions | undefined,
  third: RequestOptions | undefined,
): [Omit<ForwardBackwardRequest, "batch">, RequestOptions | undefined] {
  if (third === undefined && second !== undefined && !("loss_fn" in second) && !("loss_fn_config" in second)) return [{}, second as RequestOptions];
  return [(second ?? {}) as Omit<ForwardBackwardRequest, "batch">, third];
}
