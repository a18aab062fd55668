import type { ServerResponse } from "node:http";

/** Writes a JSON response with its length (unless the connection is already gone). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Writes binary content. */
export function sendBytes(res: ServerResponse, status: number, body: Uint8Array, contentType: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": contentType, "content-length": body.length });
  res.end(body);
}
