import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";

/** getHealth: liveness, version and uptime; needs no key and never touches the engine. */
export const getHealth: Handler<"getHealth"> = async ({ services }) =>
  json(200, { status: "ok", version: services.version, uptime_ms: Math.round(Date.now() - services.startedAt) });

/** listModels: the built-in base models and the served checkpoints, the default first. */
export const listModels: Handler<"listModels"> = async ({ services }) => {
  const data: components["schemas"]["Model"][] = services.models.map((m) => ({
    object: "model",
    ...m,
    default: m.id === services.defaultModelId,
  }));
  return json(200, { object: "list", data });
};
