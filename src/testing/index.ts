/**
 * `frontier-signal/testing`: test an app built on the SDK with no service and no account.
 * Node only; the client entry never loads it.
 *
 * - `createMockServer()`: a contract mock of the bundled spec (Prism behind a recording proxy)
 *   whose answers a test can script with `respondWith` (429, 503, 404, ...).
 * - `createLocalServer()`: the real reference server in-process with the tiny model.
 */
export { createMockServer, type MockServer, type MockServerOptions, type RecordedRequest } from "./mock-server.js";
export { createLocalServer, type LocalServer, type LocalServerOptions } from "./local-server.js";
export { MockServerError } from "./mock-server-error.js";
export type { DeclaredStatus, OperationId, Scenario } from "./scenarios.js";
export { SDK_METHOD_OPERATIONS, type OperationOf, type OperationOrMethod, type SdkMethodName } from "./sdk-method-names.js";
