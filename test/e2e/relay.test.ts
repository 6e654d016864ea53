// Relay's compiler is the strictest reader of our connections: it refuses @connection unless
// PageInfo has all four Relay fields. It runs offline (a native binary in the npm package).
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { GraphQLObjectType, buildSchema, parse, print, visit } from "graphql";
import { afterAll, expect, it } from "vitest";
import { CategoryProductsEndCursorDocument } from "../generated/graphql.ts";
import { gql, ok, request, tempDir, useTestServer } from "../harness/index.ts";

const RELAY_BIN = createRequire(import.meta.url)("relay-compiler") as string | null;
const SCHEMA = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
const server = useTestServer();
const dirs: { remove(): void }[] = [];
afterAll(() => dirs.forEach((dir) => dir.remove()));

/** A paginated product list as a Relay app writes it: on a category (refetchable) and at the root. */
const COMPONENT = `import { graphql } from "relay-runtime";

export const categoryProducts = graphql\`
  fragment CategoryProducts_category on Category
  @refetchable(queryName: "CategoryProductsPaginationQuery")
  @argumentDefinitions(first: { type: "Int", defaultValue: 10 }, after: { type: "String" }) {
    name
    products(first: $first, after: $after) @connection(key: "CategoryProducts_products") {
      edges { node { id name price { amountCents currency } } }
    }
  }
\`;

export const catalog = graphql\`
  fragment Catalog_query on Query
  @refetchable(queryName: "CatalogPaginationQuery")
  @argumentDefinitions(first: { type: "Int", defaultValue: 20 }, after: { type: "String" }) {
    products(first: $first, after: $after) @connection(key: "Catalog_products") {
      totalCount
      edges { node { id name } }
    }
  }
\`;
`;

/** Writes a Relay project over `schema` and runs the compiler in it. */
async function compile(schema: string): Promise<{ code: number; output: string; generated: string[]; dir: string }> {
  const dir = tempDir("cartwheel-relay-");
  dirs.push(dir);
  mkdirSync(join(dir.path, "src"));
  writeFileSync(join(dir.path, "schema.graphql"), schema);
  writeFileSync(join(dir.path, "relay.config.json"), JSON.stringify({ src: "./src", schema: "./schema.graphql", language: "typescript", eagerEsModules: true }));
  writeFileSync(join(dir.path, "src", "Products.ts"), COMPONENT);
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
    execFile(RELAY_BIN!, [], { cwd: dir.path, timeout: 30_000, env: { PATH: process.env.PATH ?? "", NO_COLOR: "1" } }, (error, stdout, stderr) => {
      // A number is the compiler's exit code; anything else (not started, killed by the timeout) is the test's failure.
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? (error.code as number) : 0, output: `${stdout}\n${stderr}` });
    });
  });
  let generated: string[] = [];
  try {
    generated = readdirSync(join(dir.path, "src", "__generated__")).sort();
  } catch {
    // nothing generated: the compile failed
  }
  return { code, output, generated, dir: dir.path };
}

it("relay-compiler accepts @connection on Category.products and Query.products", async () => {
  expect(RELAY_BIN, "relay-compiler ships no binary for this platform").toBeTruthy();
  const result = await compile(SCHEMA);
  expect(result.output).not.toMatch(/ERROR/);
  expect(result.code).toBe(0);
  expect(result.generated).toEqual([
    "CatalogPaginationQuery.graphql.ts",
    "Catalog_query.graphql.ts",
    "CategoryProductsPaginationQuery.graphql.ts",
    "CategoryProducts_category.graphql.ts",
  ]);

  // The query Relay sends to load the next page runs on the server as written.
  const text = operationText(join(result.dir, "src", "__generated__", "CategoryProductsPaginationQuery.graphql.ts"));
  const category = ok(await request(server.app.url, CategoryProductsEndCursorDocument)).categories[0]!;
  // Relay's own text (what is tested: it runs as Relay wrote it), its result typed by what is read of it.
  type Page = { node: { products: { edges: { cursor: string }[]; pageInfo: unknown } } };
  const page = await gql<Page>(server.app.url, text, { id: category.id, first: 3, after: category.products.pageInfo.endCursor });
  expect(page.errors).toBeUndefined();
  expect(page.data!.node.products.edges).toHaveLength(3);
  expect(page.data!.node.products.pageInfo).toEqual({ endCursor: page.data!.node.products.edges[2]!.cursor, hasNextPage: expect.any(Boolean) });
});

/** The operation text in a generated Relay artifact (`params.text`). */
function operationText(file: string): string {
  const match = /"text": ("(?:[^"\\]|\\.)*")/.exec(readFileSync(file, "utf8"));
  if (!match) throw new Error(`no operation text in ${file}`);
  return JSON.parse(match[1]!) as string;
}

it("and refuses it on a schema whose PageInfo lacks hasPreviousPage and startCursor (what v1 had)", async () => {
  const v1 = print(
    visit(parse(SCHEMA), {
      ObjectTypeDefinition: (type) =>
        type.name.value === "PageInfo" ? { ...type, fields: type.fields?.filter((f) => !["hasPreviousPage", "startCursor"].includes(f.name.value)) } : undefined,
    }),
  );
  expect(Object.keys((buildSchema(v1).getType("PageInfo") as GraphQLObjectType).getFields()).sort()).toEqual(["endCursor", "hasNextPage"]);
  const result = await compile(v1);
  expect(result.code).not.toBe(0);
  expect(result.output).toMatch(/pageInfo \{ hasPreviousPage \}/);
  expect(result.output).toMatch(/pageInfo \{ startCursor \}/);
});
