import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "scripts/examples/testing/**/*.test.ts"],
    globalSetup: ["test/setup/prism.ts"],
    // Vitest's default is one worker fewer than the cores: one on a 2-core machine. Most files
    // wait on child processes (Prism, servers, tsc, chromium), so two run side by side even there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "tsconfig.typecheck.json" },
  },
});
