import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { ApiError } from "../wire/api-error.js";

/** `localhost`, a name under `.localhost`, `127.0.0.0/8` or `::1` (bracketed or not). */
export function isLoopbackName(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    host === "::1" ||
    (isIP(host) === 4 && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
  );
}

/**
 * Which `Host` headers a server answers, against DNS rebinding (a page on a domain its owner
 * points at 127.0.0.1 is same-origin with the server, so CORS does not stop it; its requests
 * still name that domain in `Host`). `undefined`: any host (the server listens beyond loopback).
 */
export type HostPolicy = ReadonlySet<string> | undefined;

/**
 * The policy of a server listening on `listenHost`: on a loopback address, loopback names and
 * addresses plus `allowedHosts` (host names such as `dev.example.test`, compared without port,
 * case-insensitively); elsewhere, any host.
 * @throws Error naming an entry of `allowedHosts` that is not a host name or address.
 */
export function hostPolicy(listenHost: string, allowedHosts: readonly string[] = []): HostPolicy {
  const allowed = allowedHosts.map((entry) => {
    const host = entry.trim().toLowerCase();
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+|[0-9a-f:]+)$/.test(host)) {
      throw new Error(`allowedHosts: '${entry}' is not a host name or address (give it without scheme or port, e.g. dev.example.test)`);
    }
    return host;
  });
  return isLoopbackName(listenHost) ? new Set(allowed) : undefined;
}

/** The host name of a `Host` header, without its port; "" when there is none. */
function hostnameOf(header: string | undefined): string {
  if (header === undefined) return "";
  const value = header.trim().toLowerCase();
  if (value.startsWith("[")) return value.slice(0, value.indexOf("]") + 1);
  const colon = value.indexOf(":");
  return colon < 0 ? value : value.slice(0, colon);
}

/**
 * Refuses a request whose `Host` the policy does not admit, before anything else is done with it.
 * @throws ApiError 403 `host_not_allowed`
 */
export function checkHost(req: IncomingMessage, policy: HostPolicy): void {
  if (policy === undefined) return;
  const hostname = hostnameOf(req.headers.host);
  if (isLoopbackName(hostname) || policy.has(hostname) || policy.has(hostname.replace(/^\[|\]$/g, ""))) return;
  throw new ApiError(
    "host_not_allowed",
    `Host '${hostname.slice(0, 100)}' is not a loopback name or address, and this server listens on loopback only; if you reach it under that name, start it with --allowed-host ${hostname.slice(0, 100) || "<host>"} (startServer's allowedHosts).`,
  );
}
