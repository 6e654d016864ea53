import { startApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { createLogger } from "./server/logger.ts";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  throw error;
}
const log = createLogger(config.logLevel);
const app = await startApp(config, log).catch((error: unknown) => {
  // Another process has the embedded database open: one line saying which, not a stack.
  if (error instanceof DataDirLockedError) {
    console.error(error.message);
    process.exit(error.exitCode);
  }
  throw error;
});
log.info(
  { url: app.url, database: app.db.kind === "pglite" ? `embedded (${config.dataDir})` : "postgres", pubsub: app.bus.distributed ? "redis" : "in-process" },
  `Cartwheel listening on ${app.url}`,
);

// `on`, not `once`: a second signal during the drain must not fall through to the default
// handler (which would kill the process mid-drain); it is ignored, the drain goes on.
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
