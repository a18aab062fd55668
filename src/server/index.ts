/**
 * `frontier-signal/server`: the local reference server. Importing it does not load the tensor
 * library; `startServer` starts the engine (which does).
 */
export { startServer, SERVER_DEFAULTS, SERVER_VERSION, type ServerOptions, type RunningServer } from "./start-server.js";
export { SERVER_LIMITS, type ServerLimits } from "./limits.js";
export type { Engine, ModelInfo } from "./engine/types.js";
export { CheckpointError, type HfModelSource } from "./engine/index.js";
