import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of a real service, so a test can cut the service away (and
 * bring it back) without touching the shared server. While cut, it still accepts connections and
 * closes them at once, and counts them: a test can wait for a client to have retried N times.
 */
export interface TcpProxy {
  port: number;
  /** Connection attempts that arrived while cut. */
  readonly refused: number;
  /** Connections accepted (and forwarded, unless frozen) since the proxy started. */
  readonly opened: number;
  /** Closes every open connection and refuses new ones until restore(). */
  cut(): void;
  /**
   * Keeps every connection open but forwards nothing, either way (a service that hangs). Bytes
   * sent meanwhile are dropped: cut() before restore(), so clients start on fresh connections.
   */
  freeze(): void;
  restore(): void;
  /** Resolves once `count` attempts were refused since the cut, or rejects after `ms`. */
  refusedAtLeast(count: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let isCut = false;
  let frozen = false;
  let refused = 0;
  let opened = 0;
  const waiters: { count: number; resolve(): void }[] = [];
  const server: Server = createServer((client) => {
    if (isCut) {
      refused += 1;
      client.destroy();
      for (const w of waiters.filter((w) => refused >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return;
    }
    opened += 1;
    const upstream = connect(targetPort, targetHost);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (chunk: Buffer) => frozen || upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => frozen || client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get refused() {
      return refused;
    },
    get opened() {
      return opened;
    },
    cut() {
      isCut = true;
      refused = 0;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    freeze() {
      frozen = true;
    },
    restore() {
      isCut = false;
      frozen = false;
    },
    refusedAtLeast(count, ms = 10_000) {
      if (refused >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fewer than ${count} connection attempts within ${ms} ms (saw ${refused})`)), ms);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
