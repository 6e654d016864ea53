import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { createSchema, printContract } from "../../src/graphql/schema.ts";

it("schema.graphql is exactly the schema the server builds (run `npm run schema:emit` after changing it)", async () => {
  const committed = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
  expect(printContract(await createSchema())).toBe(committed);
});

it("every Mutation field carries an explicit auth decision", async () => {
  const schema = await createSchema();
  // Public on purpose: the ways in and out of an account.
  const publicMutations = new Set(["signUp", "logIn", "refreshSession", "logOut"]);
  for (const field of Object.values(schema.getMutationType()!.getFields())) {
    const guarded = field.astNode?.directives?.some((d) => d.name.value === "auth") ?? false;
    expect(guarded || publicMutations.has(field.name), `${field.name} has no @auth and is not listed as public`).toBe(true);
  }
});

it("every Subscription field carries an explicit auth decision", async () => {
  const schema = await createSchema();
  // Public on purpose: catalog facts anyone may watch.
  const publicSubscriptions = new Set(["stockChanged", "productUpdated"]);
  for (const field of Object.values(schema.getSubscriptionType()!.getFields())) {
    const guarded = field.astNode?.directives?.some((d) => d.name.value === "auth") ?? false;
    expect(guarded || publicSubscriptions.has(field.name), `${field.name} has no @auth and is not listed as public`).toBe(true);
  }
});
