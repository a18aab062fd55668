import type { OperationId } from "../../generated/operations.js";

/**
 * The SDK's method names that differ from the operation they call, so a test can say
 * `respondWith("saveState", ...)` as the app's code says `client.saveState(...)`. Methods named
 * like their operation (`getRun`, `sample`, `optimStep`, ...) need no entry.
 */
export const SDK_METHOD_OPERATIONS = {
  trainBatch: "trainStep",
  saveState: "createCheckpoint",
  saveCheckpoint: "createCheckpoint",
  embeddings: "createEmbeddings",
  sampleDetailed: "sample",
  streamSample: "sample",
  batchSample: "sample",
} as const satisfies Record<string, OperationId>;

/** An SDK method name that is not an operationId (`trainBatch`, `saveState`, `embeddings`, ...). */
export type SdkMethodName = keyof typeof SDK_METHOD_OPERATIONS;

/** What `respondWith` and `requests` take: an operationId or the SDK method that calls it. */
export type OperationOrMethod = OperationId | SdkMethodName;

/** The operationId of an operationId or SDK method name. */
export type OperationOf<N extends OperationOrMethod> = N extends SdkMethodName ? (typeof SDK_METHOD_OPERATIONS)[N] : N;

/** The operationId a name stands for (an unknown name is returned as given, for the caller's error). */
export function operationOf(name: string): string {
  return (SDK_METHOD_OPERATIONS as Record<string, string>)[name] ?? name;
}
