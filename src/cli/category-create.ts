// `npm run category:create -- --slug SLUG --name NAME`
// Creates a category on the database the server would use (DATABASE_URL or DATA_DIR).
import { toGlobalId } from "../lib/ids.ts";
import { parseCommandLine, runCommand, UsageError, withServices } from "./cli.ts";

const command = {
  name: "npm run category:create --",
  help: `usage: npm run category:create -- --slug SLUG --name NAME

Creates a category, last in the list, on the database the server uses: DATABASE_URL, or the
embedded database under DATA_DIR (which must not be in use by a running server: stop it first).
Recorded in the audit log as category.created with no actor (the system). Exit 1 when the slug
is taken or the input is invalid, 64 on a usage error.

  --slug SLUG   lower-case letters, digits and single dashes, at most 100 characters; unique
  --name NAME   1 to 100 characters
  -h, --help    this text`,
  options: { slug: { type: "string" }, name: { type: "string" } },
  whenLocked: "To add a category while the server runs, have STAFF call the createCategory mutation.",
} as const;

const { values } = parseCommandLine(command);
await runCommand(command, async () => {
  const missing = (["slug", "name"] as const).filter((name) => values[name] === undefined).map((name) => `--${name}`);
  if (missing.length) throw new UsageError(`missing ${missing.join(", ")}`);
  await withServices("npm run category:create", async ({ catalog }) => {
    const category = await catalog.createCategory(null, { slug: values.slug!, name: values.name! });
    console.log(`created category ${category.slug} "${category.name}" (${toGlobalId("Category", category.id)})`);
  });
});
