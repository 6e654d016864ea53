import { expect, it } from "vitest";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { SqlCountCategoriesDocument, SqlCountProductsDocument } from "../generated/graphql.ts";
import { request, useTestServer } from "../harness/index.ts";

const server = useTestServer();

const QUERY = SqlCountProductsDocument;

async function statementsFor<R, V>(query: TypedDocumentNode<R, V>, variables: V) {
  const before = server.app.db.statementCount();
  const res = await request(server.app.url, query, variables);
  expect(res.errors).toBeUndefined();
  return { count: server.app.db.statementCount() - before, data: res.data };
}

it("products with category and stock costs the same few statements for 5 and 50 rows", async () => {
  const five = await statementsFor(QUERY, { first: 5 });
  const fifty = await statementsFor(QUERY, { first: 50 });
  expect(five.data!.products.edges).toHaveLength(5);
  expect(fifty.data!.products.edges).toHaveLength(50);
  expect(fifty.count).toBe(five.count);
  expect(fifty.count).toBe(1); // totalCount included: one statement (src/modules/catalog/catalog.reads.ts)
});

it("categories with their products is batched too", async () => {
  const q = SqlCountCategoriesDocument;
  const small = await statementsFor(q, { n: 1 });
  const large = await statementsFor(q, { n: 10 });
  expect(large.count).toBe(small.count);
  expect(large.count).toBe(1);
});
