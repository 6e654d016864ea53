// The cache policy of a document, from the schema's @cacheControl hints (graphql/cache-policy.ts),
// as Apollo's per-field cache-control plugin would compute it, but from the selection.
import { parse } from "graphql";
import { beforeAll, expect, it } from "vitest";
import { CachePolicies } from "../../src/graphql/cache-policy.ts";
import { createSchema } from "../../src/graphql/schema.ts";
import { schemaParts } from "../../src/modules/index.ts";

let policies: CachePolicies;
beforeAll(async () => {
  policies = new CachePolicies(await createSchema(schemaParts));
});
const policy = (text: string, operationName?: string) => policies.of(parse(text), operationName);
const PUBLIC = { maxAge: 10, scope: "PUBLIC" };
const PRIVATE = { maxAge: 10, scope: "PRIVATE" };
const NONE = { maxAge: 0, scope: "PUBLIC" };

it("the public catalog's root fields and what hangs from them are public for 10 s", () => {
  expect(policy(`{ products(first: 2) { totalCount pageInfo { endCursor } edges { cursor node { name price { amountCents } category { name products { totalCount } } } } } }`)).toEqual(PUBLIC);
  expect(policy(`{ categories { name products(first: 2) { edges { node { stock inStock } } } } product(slug: "x") { name } }`)).toEqual(PUBLIC);
});

it("a private field makes it private, also inside a fragment or an inline fragment", () => {
  expect(policy(`{ products { edges { node { name costPrice { amountCents } } } } }`)).toEqual(PRIVATE);
  expect(policy(`{ products { edges { node { ...P } } } } fragment P on Product { name costPrice { amountCents } }`)).toEqual(PRIVATE);
  expect(policy(`{ categories { products { edges { node { ... on Product { costPrice { currency } } } } } } }`)).toEqual(PRIVATE);
  expect(policy(`{ product(slug: "x") { ...A } } fragment A on Product { ...B } fragment B on Product { costPrice { currency } }`)).toEqual(PRIVATE);
});

it("a field behind @include/@skip with a variable counts; one excluded literally does not", () => {
  expect(policy(`query($staff: Boolean!) { products { edges { node { costPrice @include(if: $staff) { amountCents } } } } }`)).toEqual(PRIVATE);
  expect(policy(`query($anon: Boolean!) { products { edges { node { costPrice @skip(if: $anon) { amountCents } } } } }`)).toEqual(PRIVATE);
  expect(policy(`{ products { edges { node { name costPrice @include(if: false) { amountCents } } } } }`)).toEqual(PUBLIC);
  expect(policy(`{ products { edges { node { name ... @skip(if: true) { costPrice { amountCents } } } } } }`)).toEqual(PUBLIC);
  expect(policy(`{ products { totalCount } me @include(if: false) { id } }`)).toEqual(PUBLIC);
});

it("any root field without a hint makes the whole operation uncacheable", () => {
  expect(policy(`{ products(first: 1) { totalCount } me { id } }`)).toEqual(NONE);
  expect(policy(`{ cart { version } }`)).toEqual(NONE);
  // A scalar root field without a hint too (the cursor moves with every event).
  expect(policy(`{ eventCursor products(first: 1) { edges { node { name } } } }`)).toEqual(NONE);
  expect(policy(`{ node(id: "x") { ... on Product { name } } }`)).toEqual(NONE);
  expect(policy(`{ __schema { queryType { name } } products { totalCount } }`)).toEqual(NONE);
  expect(policy(`{ ...Q } fragment Q on Query { me { id } products { totalCount } }`)).toEqual(NONE);
  expect(policy(`mutation { logOut(refreshToken: "x") }`)).toEqual(NONE);
  expect(policy(`subscription { stockChanged(productIds: ["x"]) { stock } }`)).toEqual(NONE);
});

it("__typename changes nothing (alone it leaves nothing cacheable); the operation named is the one that counts", () => {
  expect(policy(`{ __typename products { __typename edges { node { __typename name } } } }`)).toEqual(PUBLIC);
  expect(policy(`{ __typename }`)).toEqual(NONE);
  const two = `query A { products { totalCount } } query B { me { id } }`;
  expect(policy(two, "A")).toEqual(PUBLIC);
  expect(policy(two, "B")).toEqual(NONE);
  expect(policy(two, "C")).toEqual(NONE);
});

it("is kept per document key (bounded): the same key answers the same policy", () => {
  const document = parse(`{ products { edges { node { costPrice { amountCents } } } } }`);
  expect(policies.of(document, undefined, "k1")).toEqual(PRIVATE);
  expect(policies.of(parse(`{ products { totalCount } }`), undefined, "k1")).toEqual(PRIVATE);
});

it("knows which documents select a field under @auth, whatever the hints say", () => {
  const guarded = (text: string) => policies.selectsGuardedFields(parse(text), undefined);
  expect(guarded(`{ products { edges { node { name price { amountCents } category { name } } } } }`)).toBe(false);
  expect(guarded(`{ products { edges { node { ...P } } } } fragment P on Product { costPrice { amountCents } }`)).toBe(true);
  expect(guarded(`{ cart { version } }`)).toBe(true);
  expect(guarded(`{ me { name email } }`)).toBe(true);
});
