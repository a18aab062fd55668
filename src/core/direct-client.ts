import type { RawClient } from "./raw-client.js";
import { LiteRequest } from "./lite-http.js";

/** The typed methods the SDK's own calls use: the raw client's signature, without its extras. */
export type DirectClient = Pick<RawClient, "GET" | "POST" | "DELETE">;

interface DirectInit {
  params?: { path?: Record<string, string | number>; query?: Record<string, string | number | boolean | undefined> };
  body?: unknown;
  headers?: Record<string, string>;
  parseAs?: "json" | "stream" | "arrayBuffer" | "text";
  fetch: (request: LiteRequest) => Promise<Response>;
}

/**
 * The SDK's hot path to the transport, with openapi-fetch's typed signature (`GET(path, {
 * params, body })`) but none of its per-call machinery (middleware, serializer lookup, header
 * merging, Request objects): the URL, headers and JSON body are built once, handed to the call
 * fetch as a `LiteRequest`, and the 2xx body (the transport throws for every other status) read
 * as asked. The public low-level client (`createRawClient`) is still openapi-fetch.
 */
export function createDirectClient(baseUrl: string, apiKey: string): DirectClient {
  const authorization = `Bearer ${apiKey}`;
  const method = (name: "GET" | "POST" | "DELETE") =>
    async function send(path: string, init: DirectInit): Promise<{ data: unknown; response: Response }> {
      const headers: Record<string, string> = { authorization, ...init.headers };
      let body: string | undefined;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers["content-type"] = "application/json";
      }
      const url = baseUrl + fillPath(path, init.params?.path) + queryString(init.params?.query);
      const response = await init.fetch(new LiteRequest(url, { method: name, headers, body }));
      return { data: await readBody(response, init.parseAs ?? "json"), response };
    };
  return { GET: method("GET"), POST: method("POST"), DELETE: method("DELETE") } as unknown as DirectClient;
}

function fillPath(template: string, params: Record<string, string | number> | undefined): string {
  if (params === undefined) return template;
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(params[name])));
}

function queryString(query: Record<string, string | number | boolean | undefined> | undefined): string {
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
  const text = await response.text();
  if (parseAs === "text") return text;
  return text === "" ? undefined : JSON.parse(text);
}
