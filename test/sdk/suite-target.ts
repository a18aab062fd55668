import { inject } from "vitest";

/** Where the high-level suite runs and how strictly it reads the answers. */
export interface SuiteTarget {
  baseUrl: string;
  strictResponseValidation: boolean;
}

let target: SuiteTarget | undefined;

/** Points the suite at another server; call before importing the suite's file. */
export function setSuiteTarget(next: SuiteTarget): void {
  target = next;
}

/** The target set by the importing file, else the shared Prism mock of the spec, read strictly. */
export function suiteTarget(): SuiteTarget {
  return target ?? { baseUrl: inject("prismUrl"), strictResponseValidation: true };
}
