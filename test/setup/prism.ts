import type { TestProject } from "vitest/node";
import { startPrism } from "../helpers/prism.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of a Prism mock of openapi/signal.yaml, shared by the whole test run. */
    prismUrl: string;
  }
}

/** Starts one Prism mock for the run and stops it when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const prism = await startPrism({ kind: "mock" });
  project.provide("prismUrl", prism.url);
  return () => prism.stop();
}
