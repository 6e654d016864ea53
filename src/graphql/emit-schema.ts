// `npm run schema:emit`: writes schema.graphql from the type-graphql classes.
import { writeFileSync } from "node:fs";
import { createSchema, printContract } from "./schema.ts";

const target = new URL("../../schema.graphql", import.meta.url);
writeFileSync(target, printContract(await createSchema()));
console.log(`wrote ${target.pathname}`);
