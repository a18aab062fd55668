import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { REFERENCE_PYTHON } from "../helpers/torch-reference.js";

// selfcheck.py compares hf_reference.py with a float64 implementation written the long way
// (per-head loops, complex-pair RoPE, merged LoRA, Meta's RoPE scaling loop, finite differences).
it("the PyTorch reference agrees with an independent float64 implementation on every architecture", async () => {
  const script = fileURLToPath(new URL("./selfcheck.py", import.meta.url));
  const run = await promisify(execFile)(REFERENCE_PYTHON, [script], { timeout: 120_000 }).catch(
    (error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`selfcheck.py failed:\n${error.stdout ?? ""}${error.stderr ?? error.message}`);
    },
  );
  expect(run.stdout).not.toMatch(/^FAIL/m);
  expect(run.stdout.trim().split("\n").at(-1)).toBe("all checks passed");
}, 120_000);
