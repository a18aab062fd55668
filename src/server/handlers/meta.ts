import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";

/** getHealth: liveness, version and uptime; needs no key and never touches the engine. */
export const getHealth: Handler<"getHealth"> = async ({ services }) =>
  json(200, { status: "ok", version: services.version, uptime_ms: Math.round(Date.now() - services.startedAt) });

/** listModels: the engine's built-in base models, the default first. */
export const listModels: Handler<"listModels"> = async ({ services }) => {
  const data: components["schemas"]["Model"][] = services.models.map((m) => ({
    object: "model",
    id: m.id,
    description: m.description,
    context_length: m.context_length,
    vocab_size: m.vocab_size,
    num_parameters: m.num_parameters,
    d_model: m.d_model,
    n_layers: m.n_layers,
    n_heads: m.n_heads,
    default: m.id === services.defaultModelId,
  }));
  return json(200, { object: "list", data });
};
