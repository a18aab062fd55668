import { BufferedResponse, LiteRequest } from "./lite-http.js";

/** What one call hands the direct client. */
export interface DirectInit {
  params?: { path?: Record<string, unknown> | undefined; query?: Record<string, unknown> | undefined };
  body?: unknown;
  headers?: Record<string, string>;
  parseAs?: "json" | "stream" | "arrayBuffer" | "text";
  fetch: (request: LiteRequest) => Promise<Response>;
}

/** Sends one request of the spec: method, path template and init; resolves with the 2xx body read as asked. */
export type DirectClient = (method: string, path: string, init: DirectInit) => Promise<{ data: unknown; response: Response }>;

/**
 * The SDK's hot path to the transport. It does none of openapi-fetch's per-call work
 * (middleware, serializer lookup, header merging, Request objects): the URL, headers and JSON
 * body are built once, handed to the call fetch as a `LiteRequest`, and the 2xx body (the
 * transport throws for every other status) read as asked. The public low-level client
 * (`createRawClient`) is openapi-fetch.
 */
export function createDirectClient(baseUrl: string): DirectClient {
  return async (method, path, init) => {
    let headers = init.headers;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers = { ...headers, "content-type": "application/json" };
    }
    const url = baseUrl + fillPath(path, init.params?.path) + queryString(init.params?.query);
    const response = await init.fetch(new LiteRequest(url, { method, headers, body }));
    return { data: await readBody(response, init.parseAs ?? "json"), response };
  };
}

/** Path templates split once into literal parts (even indexes) and parameter names (odd ones). */
const templates = new Map<string, string[]>();

function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  if (params === undefined) return template;
  let parts = templates.get(template);
  if (parts === undefined) {
    parts = template.split(/\{([^}]+)\}/);
    templates.set(template, parts);
  }
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i += 2) out += encodeURIComponent(String(params[parts[i]!])) + parts[i + 1]!;
  return out;
}

function queryString(query: Record<string, unknown> | undefined): string {
  if (query === undefined) return "";
  let out = "";
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    out += `${out === "" ? "?" : "&"}${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`;
  }
  return out;
}

async function readBody(response: Response, parseAs: NonNullable<DirectInit["parseAs"]>): Promise<unknown> {
  if (parseAs === "stream") return response.body;
  if (parseAs === "arrayBuffer") return response.arrayBuffer();
  if (response.status === 204) return undefined;
  const text = response instanceof BufferedResponse ? response.textNow() : await response.text();
  if (parseAs === "text") return text;
  return text === "" ? undefined : JSON.parse(text);
}
