// Types of scripts/spec-compat.mjs, for the tests that call it.
export interface SpecChange {
  impact: "major" | "minor" | "patch";
  ruleId: string;
  /** `operationId (METHOD /path)`, or the path or `spec` when no operation applies. */
  operation: string;
  side: "request" | "response" | "operation";
  message: string;
  /** Why it breaks existing clients; empty unless `impact` is major. */
  why: string;
}
export interface Classification {
  bump: "major" | "minor" | "patch" | "none";
  baseVersion: string;
  revisionVersion: string;
  changes: SpecChange[];
}
export const CONTRACT_WIDE_STATUSES: Set<string>;
export function classify(basePath: string, revisionPath: string): Promise<Classification>;
export function majorOf(version: string): number;
export function describe(change: SpecChange): string;
