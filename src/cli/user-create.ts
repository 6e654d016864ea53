// `npm run user:create -- --email a@b.c --password … --name … --role CUSTOMER|STAFF|ADMIN`
// Creates an account on the database the server would use (DATABASE_URL or DATA_DIR).
import { parseArgs } from "node:util";
import { ROLES, type RoleName } from "../auth/roles.ts";
import { loadConfig } from "../config.ts";
import { openDatabase } from "../db/client.ts";
import { applyMigrations } from "../db/migrate.ts";
import { identityServiceFor } from "../modules/identity/index.ts";

const { values } = parseArgs({
  options: { email: { type: "string" }, password: { type: "string" }, name: { type: "string" }, role: { type: "string", default: "CUSTOMER" } },
});
if (!values.email || !values.password || !values.name || !ROLES.includes(values.role as RoleName)) {
  console.error("usage: npm run user:create -- --email EMAIL --password PASSWORD --name NAME [--role CUSTOMER|STAFF|ADMIN]");
  process.exit(64);
}
const config = loadConfig();
const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
try {
  await applyMigrations(db.sql);
  const identity = await identityServiceFor(db.prisma, config);
  const user = await identity.createUser({ email: values.email, password: values.password, name: values.name, role: values.role as RoleName });
  console.log(`created ${user.role} ${user.email} (${user.id})`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await db.close();
}
