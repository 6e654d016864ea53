// `npm run schema:emit`: writes schema.graphql from the type-graphql classes.
import { writeFileSync } from "node:fs";
import { parseCommandLine } from "./cli.ts";

parseCommandLine({
  name: "npm run schema:emit --",
  help: `usage: npm run schema:emit

Writes schema.graphql (the emitted contract: sorted, with @auth directives) from the type-graphql
classes. Takes no arguments. Check it against the release with npm run schema:check.

  -h, --help  this text`,
});
// Loaded once the arguments are known to be right (see cli.ts).
const [{ createSchema, printContract }, { schemaParts }] = await Promise.all([import("../graphql/schema.ts"), import("../modules/index.ts")]);
const target = new URL("../../schema.graphql", import.meta.url);
writeFileSync(target, printContract(await createSchema(schemaParts)));
console.log(`wrote ${target.pathname}`);
