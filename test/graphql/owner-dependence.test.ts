// Which documents may be answered once for every subscriber of a role (server/fanout.ts groups
// them): none that selects a field under @auth(ownerOrRole), directly, in a fragment or inline.
import { parse } from "graphql";
import { expect, it } from "vitest";
import { selectsOwnerDependentFields } from "../../src/graphql/auth-directive.ts";
import { createSchema } from "../../src/graphql/schema.ts";
import { schemaParts } from "../../src/modules/index.ts";

it("finds owner-dependent fields wherever they are selected", async () => {
  const schema = await createSchema(schemaParts);
  const owned = (text: string) => selectsOwnerDependentFields(schema, parse(text));
  expect(owned(`subscription { productUpdated(id: "x") { name costPrice { amountCents } category { name } } }`)).toBe(false);
  expect(owned(`subscription { stockChanged(productIds: ["x"]) { stock product { name } } }`)).toBe(false);
  expect(owned(`subscription { orderPlaced { number customer { email } } }`)).toBe(true);
  expect(owned(`subscription { orderPlaced { ...O } } fragment O on Order { customer { role } }`)).toBe(true);
  expect(owned(`query { node(id: "x") { ... on User { orders(first: 1) { totalCount } } } }`)).toBe(true);
  expect(owned(`subscription { orderPlaced { number customer { name } } }`)).toBe(false);
});
