import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Connections over the cap that are still read, to answer health (and 503 for the rest). */
const OVERFLOW_SLOTS = 32;
/** How long an over-cap connection may take to send its request. */
const OVERFLOW_GRACE_MS = 2_000;

/** What the request pipeline asks of the guard. */
export interface ConnectionGuard {
  /** True for a request that arrived on a connection accepted over the cap. */
  overCap(req: IncomingMessage): boolean;
  /** Open connections now. */
  readonly open: number;
}

/**
 * Caps the connections a server holds, so slow or idle clients cannot use up the process's file
 * descriptors (which the store and the engine need too) nor lock out new clients. A connection
 * that arrives at the cap closes an older one that is not in the middle of a request: the oldest
 * that never completed a request (a slowloris sending headers byte by byte), else the oldest idle
 * keep-alive connection (its client reconnects). A connection in the middle of a request is never
 * closed. When every connection is busy, up to
 * `OVERFLOW_SLOTS` more are read with a short deadline: the pipeline serves `getHealth` on them and
 * answers everything else 503; beyond those, a new connection is closed at once.
 */
export function guardConnections(server: Server, maxConnections: number): ConnectionGuard {
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  /** Connections that have had an answer: proven clients, closed only after the others. */
  const served = new WeakSet<Socket>();
  const overflow = new Set<Socket>();

  server.on("connection", (socket: Socket) => {
    if (open.size >= maxConnections && !evictOne()) {
      if (overflow.size >= OVERFLOW_SLOTS) {
        socket.destroy();
        return;
      }
      overflow.add(socket);
      const deadline = setTimeout(() => socket.destroy(), OVERFLOW_GRACE_MS);
      deadline.unref();
      socket.once("close", () => {
        clearTimeout(deadline);
        overflow.delete(socket);
      });
      return;
    }
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      busy.delete(socket);
    });
  });

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (!open.has(socket)) return;
    busy.add(socket);
    res.once("close", () => {
      busy.delete(socket);
      served.add(socket);
    });
  });

  function evictOne(): boolean {
    let idleServed: Socket | undefined;
    for (const socket of open) {
      if (busy.has(socket)) continue;
      if (!served.has(socket)) return evict(socket);
      idleServed ??= socket;
    }
    return idleServed !== undefined && evict(idleServed);
  }

  function evict(socket: Socket): true {
    open.delete(socket);
    socket.destroy();
    return true;
  }

  return {
    overCap: (req) => overflow.has(req.socket),
    get open() {
      return open.size + overflow.size;
    },
  };
}
