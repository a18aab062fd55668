import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

export interface NewerServerProxy {
  url: string;
  /** How many JSON bodies were rewritten. */
  rewritten(): number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 that makes a server look newer than the SDK: every JSON object in
 * a 2xx JSON body gets the fields of `extra`, each `status` and `finish_reason` string is
 * replaced by the value in `values`, and `drop` names fields to delete (to simulate a server
 * that breaks the contract). Everything else (streams, errors, headers) passes unchanged.
 */
export async function startNewerServerProxy(options: {
  upstream: string;
  extra: Record<string, unknown>;
  values: { status?: string; finish_reason?: string };
  drop?: () => string[];
}): Promise<NewerServerProxy> {
  let count = 0;
  const upstream = new URL(options.upstream);
  const server = createServer((req, res) => {
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        const isJson = (answer.headers["content-type"] ?? "").includes("application/json");
        const ok = (answer.statusCode ?? 500) < 300;
        if (!isJson || !ok) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = rewrite(JSON.parse(Buffer.concat(chunks).toString("utf8")), options.extra, options.values, options.drop?.() ?? []);
          count += 1;
          const text = JSON.stringify(body);
          const headers = { ...answer.headers, "content-length": String(Buffer.byteLength(text)) };
          delete headers["transfer-encoding"];
          res.writeHead(answer.statusCode ?? 200, headers);
          res.end(text);
        });
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rewritten: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function rewrite(value: unknown, extra: Record<string, unknown>, values: Record<string, string | undefined>, drop: string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => rewrite(item, extra, values, drop));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (drop.includes(key)) continue;
    const replacement = values[key];
    // Record-valued fields (metadata) are the user's own keys: leave them alone.
    out[key] = key === "metadata" ? field : replacement !== undefined && typeof field === "string" ? replacement : rewrite(field, extra, values, drop);
  }
  return { ...out, ...extra };
}
