/**
 * What `frontier-signal/testing` throws for its own failures: Prism missing or failing to start,
 * or a scenario the spec does not allow (an unknown operationId, an undeclared status, a body
 * that breaks the response schema). The message says what to do.
 */
export class MockServerError extends Error {
  override readonly name = "MockServerError";
}
