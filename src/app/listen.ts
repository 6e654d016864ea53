import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { send, serveMetricsAt } from "../server/http.ts";
import type { Metrics } from "../server/metrics.ts";

const READY_TIMEOUT_MS = 2_000;

/** /health/ready: resolves when the database and the bus answer within 2 s each; rejects naming each one that failed (the 503 says which). */
export function readiness(db: Database, bus: EventBus): () => Promise<void> {
  const check = async (name: string, ping: () => Promise<void>) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no answer within 2 s")), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([ping(), timeout]);
      return undefined;
    } catch (error) {
      return `${name}: ${(error as Error).message.replace(/^redis: /, "")}`;
    } finally {
      clearTimeout(timer);
    }
  };
  return async () => {
    const failing = (await Promise.all([check("database", () => db.ping()), check("redis", () => bus.ping())])).filter(Boolean);
    if (failing.length > 0) throw new Error(failing.join("; "));
  };
}

/** Listens on `port` and `host`; rejects with the listener's error (EADDRINUSE: startup.ts names the setting). */
export function listen(server: Server, port: number | undefined, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

/** METRICS_PORT: /metrics (and nothing else) on a listener of its own, on the same HOST. */
export async function listenForMetrics(config: Config, metrics: Metrics, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") return send(res, 404, { error: "not found" });
    serveMetricsAt(metrics, config.metrics.token, req, res).catch((error: unknown) => {
      log.error({ err: error }, "metrics scrape failed");
      if (!res.headersSent) send(res, 500, { error: "internal server error" });
      else res.destroy();
    });
  });
  await listen(server, config.metrics.port, config.host);
  return server;
}

/** Closes a listener and every connection it has; nothing when it is not listening. */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
