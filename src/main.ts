import { parseArgs } from "node:util";
import type { App } from "./app.ts";
import { loadConfig, type Config } from "./config.ts";
import { createLogger } from "./server/logger.ts";
import { EXIT, secretsOf, startupFailure } from "./startup.ts";
import { startTracing, type Tracing } from "./tracing/index.ts";

// Every start-up failure is one line on stderr and a documented exit code (startup.ts EXIT),
// never a stack trace: the operator reads the line and fixes the setting it names.
function fail(error: unknown, secrets: string[] = []): never {
  const { exitCode, line } = startupFailure(error, secrets);
  console.error(line);
  process.exit(exitCode);
}
const USAGE = `usage: node dist/src/main.js     (npm start runs the same from the sources)

Starts the Cartwheel server: GraphQL over HTTP, WebSocket and SSE on PORT (default 4000), health
checks and /metrics. Takes no arguments: every setting comes from the environment (the README's
Configuration section; .env.example lists them). With no DATABASE_URL it runs on the embedded
database under DATA_DIR, with no REDIS_URL on in-process pub/sub. SIGTERM or SIGINT drains and stops.

  -h, --help  this text`;
// Not node:util's parseArgs through cli.ts: that imports GraphQL modules, which tracing must load first.
try {
  if (parseArgs({ options: { help: { type: "boolean", short: "h" } }, strict: true }).values.help) {
    console.log(USAGE);
    process.exit(0);
  }
} catch (error) {
  console.error(`${(error as Error).message.split("\n")[0]} (see: node dist/src/main.js --help)`);
  process.exit(64);
}
let config: Config;
try {
  config = loadConfig();
} catch (error) {
  fail(error);
}
const log = createLogger(config.logLevel);
// Last resort: a promise rejection nothing handled is logged, never the end of the instance (every
// known source is handled where it arises; this keeps a missed one from taking all traffic down).
process.on("unhandledRejection", (reason: unknown) => log.error({ err: reason }, "unhandled promise rejection"));
let app: App;
let tracing: Tracing | undefined;
try {
  // Tracing patches http, pg, ioredis and graphql as they load: it starts before the app is imported.
  tracing = await startTracing(config.tracing, { log });
  // The origin only: an endpoint URL may carry credentials.
  if (tracing) log.info({ endpoint: new URL(config.tracing.endpoint!).origin, serviceName: config.tracing.serviceName }, "tracing on");
  const { startApp } = await import("./app.ts");
  app = await startApp(config, log);
} catch (error) {
  fail(error, secretsOf(config));
}
// Before the "listening" line: a supervisor (or test) may signal as soon as it reads it.
// `on`, not `once`: a second signal during the drain must not fall through to the default
// handler (which would kill the process mid-drain); it is ignored, the drain goes on.
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    // The last spans (the drain's own requests included) are flushed after the drain; bounded, never rejects.
    app.stop().then(
      async () => {
        await tracing?.shutdown();
        log.info("stopped");
        process.exit(EXIT.ok);
      },
      async (error: unknown) => {
        await tracing?.shutdown();
        // One line, no stack: the reason (e.g. SHUTDOWN_TIMEOUT exceeded) says what happened.
        log.error({ reason: (error as Error).message }, "shutdown failed");
        process.exit(EXIT.shutdownFailed);
      },
    );
  });
}
log.info(
  {
    url: app.url,
    database: app.db.kind === "pglite" ? `embedded (${config.dataDir})` : "postgres",
    pubsub: app.bus.distributed ? `redis (${config.redis?.kind})` : "in-process",
    ...(app.metricsPort !== undefined && { metricsPort: app.metricsPort }),
  },
  `Cartwheel listening on ${app.url}`,
);

