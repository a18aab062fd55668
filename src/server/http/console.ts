import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The console's Content-Security-Policy: its own scripts, styles and API only; no inline
 * script, no other origin, no framing. Nothing of the page can reach anything but this server.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * Where the console's built files are: `dist/console/` of the package (next to the compiled
 * server, `dist/src/server/http/`), or of a source checkout that ran `npm run build`.
 * @returns undefined when neither has an `index.html`.
 */
export function findConsoleDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, "../../../console"), path.resolve(here, "../../../dist/console")];
  return candidates.find((dir) => existsSync(path.join(dir, "index.html")));
}

/**
 * Answers a GET or HEAD of a console file (`/` is `index.html`) from `dir`, with the console's
 * security headers. Paths under `/v1/` and files that do not exist are left to the API
 * (which answers 404 in the error schema). A path never leaves `dir`.
 * @returns true when the request was answered.
 */
export async function serveConsole(req: IncomingMessage, res: ServerResponse, rawPath: string, dir: string): Promise<boolean> {
  if ((req.method !== "GET" && req.method !== "HEAD") || rawPath === "/v1" || rawPath.startsWith("/v1/")) return false;
  let relative: string;
  try {
    relative = decodeURIComponent(rawPath === "/" ? "/index.html" : rawPath);
  } catch {
    return false;
  }
  if (relative.includes("\0")) return false;
  const file = path.resolve(dir, `.${path.posix.normalize(relative)}`);
  if (!file.startsWith(`${path.resolve(dir)}${path.sep}`)) return false;
  const type = TYPES[path.extname(file)];
  if (type === undefined) return false;
  let body: Buffer;
  try {
    if (!(await stat(file)).isFile()) return false;
    body = await readFile(file);
  } catch {
    return false;
  }
  res.writeHead(200, {
    "content-type": type,
    "content-length": body.length,
    "content-security-policy": CONSOLE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    // Built assets carry a content hash in their names; the page itself is always revalidated.
    "cache-control": relative.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
  });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
