import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "../wire/api-error.js";
import { isLoopbackName } from "./host-check.js";
import { matchRoute } from "./routes.js";

/**
 * Request headers a page may send: what the SDK sends (`X-Signal-Client` names it, since a page
 * cannot set `User-Agent`) and `Prefer`, which the contract mock reads.
 */
const CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Signal-Sequence", "X-Signal-Client", "Prefer", "Last-Event-ID"] as const;

/** Response headers a page's scripts may read besides the CORS-safelisted ones. */
const CORS_EXPOSED_HEADERS = ["x-request-id", "Retry-After", "idempotent-replayed"] as const;

/** How long a browser may cache a preflight answer, in seconds. */
const MAX_AGE_SECONDS = 600;

/**
 * Which page origins may call the server from a browser.
 * - `undefined` (the default): loopback origins only, any scheme and port: `http://localhost:5173`,
 *   `http://127.0.0.1:8080`, `https://[::1]:3000`. A page from anywhere else cannot read answers,
 *   which keeps a site the user happens to visit from driving a local server.
 * - a list of exact origins (`https://app.example.com`); `"*"` in it allows every origin.
 */
export type CorsOrigins = readonly string[] | undefined;

/**
 * Checks and normalizes configured origins (`http://localhost:5173/` becomes
 * `http://localhost:5173`).
 * @throws Error naming the entry that is neither `*` nor an http(s) origin.
 */
export function normalizeCorsOrigins(origins: CorsOrigins): CorsOrigins {
  if (origins === undefined) return undefined;
  return origins.map((entry) => {
    if (entry === "*") return entry;
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`corsOrigins: '${entry}' is not an origin such as http://localhost:5173 (or * for any)`);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "" || url.hash !== "") {
      throw new Error(`corsOrigins: '${entry}' is not an origin: give scheme, host and port only, e.g. http://localhost:5173`);
    }
    return url.origin;
  });
}

/** True for an origin the policy admits. */
export function originAllowed(origin: string, origins: CorsOrigins): boolean {
  if (origins === undefined) return isLoopbackOrigin(origin);
  return origins.includes("*") || origins.includes(origin);
}

function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  return isLoopbackName(url.hostname);
}

/**
 * Applies the CORS policy to one request before anything else runs. A request from an admitted
 * origin gets `Access-Control-Allow-Origin` (on every answer, errors included, so a page can
 * read the typed error) and the exposed headers. A preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) is answered here: 204 with the route's methods and the
 * allowed headers, or an error in the error schema for an origin that is not admitted or a path
 * that does not exist. Returns true when the request has been answered.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: CorsOrigins, rawPath: string): boolean {
  const origin = req.headers.origin;
  const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
  res.setHeader("vary", "Origin");
  const allowed = origin !== undefined && originAllowed(origin, origins);
  if (allowed) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", "));
  }
  if (!preflight) return false;
  if (!allowed) {
    throw new ApiError(
      "cors_origin_not_allowed",
      `Origin ${origin ?? "(none)"} may not call this server from a browser; start it with --cors-origin ${origin ?? "<origin>"} (corsOrigins) to allow it.`,
    );
  }
  const match = matchRoute("OPTIONS", rawPath);
  if (match.kind !== "method_not_allowed") {
    throw new ApiError("route_not_found", `No route ${rawPath}; see openapi/signal.yaml.`);
  }
  res.writeHead(204, {
    "access-control-allow-methods": match.allowed.join(", "),
    "access-control-allow-headers": CORS_ALLOWED_HEADERS.join(", "),
    "access-control-max-age": String(MAX_AGE_SECONDS),
    "content-length": "0",
  });
  res.end();
  return true;
}
