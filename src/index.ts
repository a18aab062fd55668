export { createRawClient, type RawClient, type RawClientOptions } from "./core/raw-client.js";
export type * from "../generated/schema.js";
