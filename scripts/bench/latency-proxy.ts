import { type Socket, createConnection, createServer } from "node:net";
import type { AddressInfo } from "node:net";

/** A TCP proxy on 127.0.0.1 that delays every chunk by `delayMs` in each direction. */
export interface LatencyProxy {
  url: string;
  /** One-way delay added from now on, in ms (0 forwards at once). */
  delayMs: number;
  close(): Promise<void>;
}

/**
 * Forwards each connection to `upstream` over real sockets, holding every chunk `delayMs`
 * before passing it on, both ways: a request pays the delay once on the way in and once on
 * the way out, as over a link with that one-way latency. Chunks keep their order (timers of
 * equal delay fire in the order they were set).
 */
export async function startLatencyProxy(upstream: string, delayMs: number): Promise<LatencyProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const proxy: LatencyProxy = { url: "", delayMs, close: async () => {} };
  const later = (action: () => void) => (proxy.delayMs > 0 ? setTimeout(action, proxy.delayMs) : action());
  const pipe = (from: Socket, to: Socket) => {
    from.on("data", (chunk) => later(() => to.writable && to.write(chunk)));
    from.on("end", () => later(() => to.end()));
    from.on("error", () => to.destroy());
    from.on("close", () => later(() => to.destroy()));
  };
  const server = createServer((client) => {
    const remote = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const socket of [client, remote]) {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    }
    pipe(client, remote);
    pipe(remote, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
