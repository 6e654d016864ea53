// `npm run db:seed`: the demo shop (seed/demo.ts) into the database the server would use.
import { loadConfig } from "../config.ts";
import { openDatabase } from "../db/client.ts";
import { applyMigrations } from "../db/migrate.ts";
import { seedServicesFor } from "../modules/index.ts";
import { seedDemoShop } from "../seed/demo.ts";
import { parseCommandLine, runCommand } from "./cli.ts";

const command = {
  name: "npm run db:seed --",
  help: `usage: npm run db:seed

Seeds the demo shop (categories, products, the demo accounts with their public passwords, and
the demo customer's orders) into DATABASE_URL, or into the embedded database under DATA_DIR
(which must not be in use by a running server: stop it first). Applies pending migrations first.
Idempotent: what exists is left alone. Takes no arguments.

  -h, --help  this text`,
};

parseCommandLine(command);
await runCommand(command, async () => {
  const config = loadConfig();
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, owner: "npm run db:seed" });
  try {
    await applyMigrations(db.sql);
    await seedDemoShop(db.prisma, await seedServicesFor(db, config));
    console.log("demo shop seeded");
  } finally {
    await db.close();
  }
});
