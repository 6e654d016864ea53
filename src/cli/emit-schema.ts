// `npm run schema:emit`: writes schema.graphql from the type-graphql classes.
import { writeFileSync } from "node:fs";
import { createSchema, printContract } from "../graphql/schema.ts";
import { schemaParts } from "../modules/index.ts";
import { parseCommandLine } from "./cli.ts";

parseCommandLine({
  name: "npm run schema:emit --",
  help: `usage: npm run schema:emit

Writes schema.graphql (the emitted contract: sorted, with @auth directives) from the type-graphql
classes. Takes no arguments. Check it against the release with npm run schema:check.

  -h, --help  this text`,
});
const target = new URL("../../schema.graphql", import.meta.url);
writeFileSync(target, printContract(await createSchema(schemaParts)));
console.log(`wrote ${target.pathname}`);
