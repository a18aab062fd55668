import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The root of the installed frontier-signal package (or of the checkout), found from this
 * file's location: `src/testing/` in a checkout, `dist/src/testing/` in the package.
 */
function packageRoot(): string {
  for (const up of ["../../", "../../../"]) {
    const root = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(`${root}openapi/signal.yaml`) && existsSync(`${root}package.json`)) return root;
  }
  throw new Error("frontier-signal/testing: the bundled openapi/signal.yaml is missing from the installed package");
}

/** The spec bundled with the installed package, the one its SDK was generated from. */
export function bundledSpecPath(): string {
  return `${packageRoot()}openapi/signal.yaml`;
}
