/**
 * Runs `test/reference/chat_template_reference.py`: chat templates rendered by Python's jinja2 in
 * the environment transformers builds for them (Debian's python3-jinja2).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REFERENCE_PYTHON } from "./torch-reference.js";

const SCRIPT = fileURLToPath(new URL("../reference/chat_template_reference.py", import.meta.url));

/** One conversation to render with the template named `template`. */
export interface JinjaCase {
  template: string;
  messages: object[];
  add_generation_prompt: boolean;
  variables: Record<string, unknown>;
}

/** The text, or the message the template raised with. */
export type JinjaRender = { text: string } | { error: string };

/** Whether the interpreter has jinja2 (CI installs python3-jinja2; a laptop may not). */
export function hasJinja2(): boolean {
  return spawnSync(REFERENCE_PYTHON, ["-c", "import jinja2"], { stdio: "ignore" }).status === 0;
}

/** Renders every case; throws with the script's stderr when it fails. */
export function renderWithJinja2(templates: Record<string, string>, cases: JinjaCase[]): JinjaRender[] {
  const out = spawnSync(REFERENCE_PYTHON, [SCRIPT], { input: JSON.stringify({ templates, cases }), encoding: "utf8", timeout: 60_000 });
  if (out.status !== 0) throw new Error(`chat_template_reference.py exited with ${out.status}: ${out.stderr}`);
  return (JSON.parse(out.stdout) as { renders: JinjaRender[] }).renders;
}
