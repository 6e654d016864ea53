// Runs `prisma generate` so a fresh clone works everywhere.
// `prisma generate` does not need the native schema engine, but the CLI tries to download it
// on start-up; where that download cannot succeed (offline machines) we point
// PRISMA_SCHEMA_ENGINE_BINARY at a stub. The stub lives in node_modules/.cache, never in a
// path that `prisma migrate` would use, and is only set when the caller did not set it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const stub = join(root, "node_modules", ".cache", "cartwheel", "schema-engine-stub");
  if (!existsSync(stub)) {
    mkdirSync(dirname(stub), { recursive: true });
    writeFileSync(stub, "#!/bin/sh\necho 'schema-engine stub: generate only' >&2\nexit 1\n", { mode: 0o755 });
  }
  env.PRISMA_SCHEMA_ENGINE_BINARY = stub;
}
const cli = join(root, "node_modules", "prisma", "build", "index.js");
const result = spawnSync(process.execPath, [cli, "generate"], { cwd: root, env, stdio: "inherit" });
process.exit(result.status ?? 1);
