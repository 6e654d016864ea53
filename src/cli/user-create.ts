// `npm run user:create -- --email a@b.c --password … --name … --role CUSTOMER|STAFF|ADMIN`
// Creates an account on the database the server would use (DATABASE_URL or DATA_DIR).
import { ROLES, type RoleName } from "../auth/roles.ts";
import { parseCommandLine, runCommand, UsageError, withServices } from "./cli.ts";

const command = {
  name: "npm run user:create --",
  help: `usage: npm run user:create -- --email EMAIL --password PASSWORD --name NAME [--role CUSTOMER|STAFF|ADMIN]

Creates an account on the database the server uses: DATABASE_URL, or the embedded database
under DATA_DIR (which must not be in use by a running server: stop it first).

  --email EMAIL        log-in address
  --password PASSWORD  8 to 200 characters
  --name NAME          display name
  --role ROLE          CUSTOMER (default), STAFF or ADMIN
  -h, --help           this text`,
  options: { email: { type: "string" }, password: { type: "string" }, name: { type: "string" }, role: { type: "string", default: "CUSTOMER" } },
  whenLocked: "To add an account while the server runs, sign up through it and have an ADMIN call setUserRole.",
} as const;

const { values } = parseCommandLine(command);
await runCommand(command, async () => {
  const missing = (["email", "password", "name"] as const).filter((name) => !values[name]).map((name) => `--${name}`);
  if (missing.length) throw new UsageError(`missing ${missing.join(", ")}`);
  if (!ROLES.includes(values.role as RoleName)) throw new UsageError(`--role must be ${ROLES.join("|")} (got "${values.role}")`);
  await withServices("npm run user:create", async ({ identity }) => {
    const user = await identity.createAccount({ email: values.email!, password: values.password!, name: values.name!, role: values.role as RoleName });
    console.log(`created ${user.role} ${user.email} (${user.id})`);
  });
});
