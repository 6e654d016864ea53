// `npm run db:seed`: the demo shop (seed/demo.ts) into the database the server would use.
import { parseCommandLine, runCommand, withServices } from "./cli.ts";

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
  const { seedDemoShop } = await import("../seed/demo.ts");
  await withServices("npm run db:seed", (services, db) => seedDemoShop(db.prisma, services));
  console.log("demo shop seeded");
});
