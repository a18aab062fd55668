/**
 * `frontier-signal/node`: helpers that need Node's file system, kept out of the client entry so
 * `frontier-signal` runs in browsers, edge runtimes, Bun and Deno unchanged.
 */
export { saveAdapter, type CheckpointSource, type SaveAdapterOptions, type SavedAdapter } from "./save-adapter.js";
export { readJsonl } from "./read-jsonl.js";
export { readConversations, type ReadConversationsOptions } from "./read-conversations.js";
