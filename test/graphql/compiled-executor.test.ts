import { ApolloServer } from "@apollo/server";
import { MapperKind, mapSchema } from "@graphql-tools/utils";
import { execute, getOperationAST, parse, print, responsePathAsArray, type GraphQLFormattedError, type GraphQLResolveInfo, type GraphQLSchema } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { formatError } from "../../src/graphql/errors.ts";
import { createSchema } from "../../src/graphql/schema.ts";
import { schemaParts } from "../../src/modules/index.ts";
import { CompiledExecutor, fragmentsOf, type ExecutionPath, type OperationToRun } from "../../src/server/compiled-executor.ts";

// What the selection-driven loaders read from the root catalog resolvers' info, as plain values.
function seen(info: GraphQLResolveInfo) {
  return {
    fieldName: info.fieldName,
    parentType: info.parentType.name,
    returnType: String(info.returnType),
    path: info.path ? responsePathAsArray(info.path) : undefined,
    fieldNodes: info.fieldNodes?.map((node) => print(node)),
    fragments: info.fragments && Object.fromEntries(Object.entries(info.fragments).map(([name, fragment]) => [name, print(fragment)])),
    variableValues: info.variableValues,
    operation: info.operation?.name?.value,
  };
}

const STUBS: Record<string, unknown> = {
  products: { edges: [], pageInfo: { hasNextPage: false, endCursor: null, hasPreviousPage: false, startCursor: null }, count: async () => 0 },
  categories: [],
  product: null,
  node: null,
};

/** The real schema with the root catalog resolvers replaced by probes that record their info. */
function probed(schema: GraphQLSchema, record: (info: GraphQLResolveInfo) => void): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.ROOT_OBJECT]: (type) => type,
    [MapperKind.OBJECT_FIELD]: (field, name, typeName) =>
      typeName === "Query" && name in STUBS
        ? {
            ...field,
            resolve: (_source, _args, _context, info) => {
              record(info);
              return STUBS[name];
            },
          }
        : field,
  });
}

const PROBE = `
  query Probe($first: Int = 7, $slug: String, $id: ID!, $withPrice: Boolean!, $order: ProductOrder) {
    products(first: $first, orderBy: $order) { edges { node { ...Card price @include(if: $withPrice) { amountCents } } } pageInfo { endCursor } }
    product(slug: $slug) { ...Card }
    categories { name products(first: 2) { totalCount } }
    node(id: $id) { id ... on Product { ...Card } }
  }
  fragment Card on Product { id name category { name } }
`;

function run(document: string, variables: Record<string, unknown> = {}, operationName?: string, queryHash = document): OperationToRun {
  const parsed = parse(document);
  return {
    document: parsed,
    // As Apollo resolves it: none when the document has several and no name is given.
    operation: getOperationAST(parsed, operationName) ?? undefined,
    operationName,
    fragments: fragmentsOf(parsed),
    queryHash,
    variables,
    contextValue: { viewer: null },
  };
}

describe("the graphql-jit executor (server/compiled-executor.ts)", () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await createSchema(schemaParts);
  });

  it("gives the root catalog resolvers the resolve info graphql-js gives: fieldNodes, fragments, variableValues, path", async () => {
    const byJit: ReturnType<typeof seen>[] = [];
    const byJs: ReturnType<typeof seen>[] = [];
    const variables = { slug: "aurora", id: "UHJvZHVjdDox", withPrice: true, order: { field: "PRICE", direction: "DESC" } };
    const jit = new CompiledExecutor({ schema: probed(schema, (info) => byJit.push(seen(info))), maxDocuments: 10 });
    const jitResult = await jit.execute(run(PROBE, variables));
    const jsResult = await execute({ schema: probed(schema, (info) => byJs.push(seen(info))), document: parse(PROBE), variableValues: variables, contextValue: { viewer: null } });
    expect(jitResult).toEqual(JSON.parse(JSON.stringify(jsResult)));
    expect(byJit.map((s) => s.fieldName).sort()).toEqual(["categories", "node", "product", "products"]);
    expect(byJit).toEqual(byJs);
    const products = byJit.find((s) => s.fieldName === "products")!;
    expect(products.path).toEqual(["products"]);
    expect(products.fieldNodes?.[0]).toContain("...Card");
    expect(products.fragments?.Card).toContain("category");
    // Coerced as graphql-js coerces them: the default applied, the input object kept.
    expect(products.variableValues).toEqual({ ...variables, first: 7 });
    expect(products.operation).toBe("Probe");
  });

  it("compiles a document once, keeps at most maxDocuments, and still runs an evicted one", async () => {
    const sizes: number[] = [];
    const paths: ExecutionPath[] = [];
    const executor = new CompiledExecutor({ schema, maxDocuments: 3, onCompiled: (n) => sizes.push(n), onExecute: (p) => paths.push(p) });
    const docs = ["a", "b", "c", "d", "e"].map((alias) => `{ ${alias}: __typename }`);
    for (let round = 0; round < 2; round++) {
      for (const doc of docs) expect(await executor.execute(run(doc))).toEqual({ data: { [doc.slice(2, 3)]: "Query" } });
    }
    expect(executor.size).toBe(3);
    expect(Math.max(...sizes)).toBe(3);
    // Ten compiles: every document was evicted before it came again (least recently used first).
    expect(sizes).toHaveLength(10);
    expect(paths).toEqual(Array(10).fill("jit"));
    // The same text (and operation name) again right away: no compile.
    await executor.execute(run(docs[4]!));
    expect(sizes).toHaveLength(10);
  });

  it("keeps operations of one document apart, also where they share a fragment", async () => {
    const executor = new CompiledExecutor({ schema: probed(schema, () => {}), maxDocuments: 10 });
    const doc = `
      query A($x: Boolean!) { a: __typename ...F @include(if: $x) }
      query B { ...F }
      fragment F on Query { categories { name } }
    `;
    // Both from one DocumentNode, as Apollo's document cache hands them over.
    const a = run(doc, { x: false }, "A", "one-hash");
    const b: OperationToRun = { ...a, operationName: "B", variables: {}, operation: a.document.definitions[1] as OperationToRun["operation"] };
    const parsed = JSON.stringify(a.document);
    expect(await executor.execute(a)).toEqual({ data: { a: "Query" } });
    expect(await executor.execute(b)).toEqual({ data: { categories: [] } });
    // jit marks the nodes it compiles: Apollo's cached document stays as parsed (jit compiled a copy).
    expect(JSON.stringify(a.document)).toBe(parsed);
  });

  it("runs on graphql-js, worded as graphql-js words it, what jit does not do: bad variables, no operation, subscriptions, documents it cannot compile", async () => {
    const paths: ExecutionPath[] = [];
    const failures: unknown[] = [];
    const executor = new CompiledExecutor({ schema, maxDocuments: 10, onExecute: (p) => paths.push(p), onCompileFailure: (e) => failures.push(e) });
    const badVariables = run(`query($n: Int) { products(first: $n) { totalCount } }`, { n: "ten" });
    const fromJit = await executor.execute(badVariables);
    const fromJs = await execute({ schema, document: badVariables.document, variableValues: badVariables.variables });
    expect(JSON.parse(JSON.stringify(fromJit))).toEqual(JSON.parse(JSON.stringify(fromJs)));
    expect(fromJit.errors?.[0]?.message).toBe('Variable "$n" got invalid value "ten"; Int cannot represent non-integer value: "ten"');
    // Apollo recognises variable errors by their AST node: graphql-js's errors carry it.
    expect(fromJit.errors?.[0]?.nodes?.[0]?.kind).toBe("VariableDefinition");

    const twoOperations = run(`query A { __typename } query B { __typename }`);
    expect((await executor.execute(twoOperations)).errors?.[0]?.message).toBe("Must provide operation name if query contains multiple operations.");
    await executor.execute(run(`subscription { productUpdated(id: "x") { id } }`));
    // jit refuses to compile an argument literal of the wrong type (Apollo's validation would
    // have refused the document first; unvalidated, graphql-js answers with a field error).
    const badLiteral = run(`{ products(first: "x") { totalCount } }`);
    expect(await executor.execute(badLiteral)).toEqual(await execute({ schema, document: badLiteral.document }));
    // Known not to compile: the second run is not compiled (nor reported) again.
    expect(await executor.execute(badLiteral)).toEqual(await execute({ schema, document: badLiteral.document }));
    expect(failures).toHaveLength(1);
    expect(paths).toEqual(["variables", "no-operation", "subscription", "not-compilable", "not-compilable"]);
    expect(executor.size).toBe(2);
  });

  it("turns jit's errors into graphql-js GraphQLErrors: message, locations, path, extensions of the thrown error", async () => {
    const failing = throwing(schema, (name) => (name === "product" ? Object.assign(new Error("boom"), { extensions: { code: "CONFLICT" } }) : new Error("unexpected")));
    const doc = `{ __typename\n  product(slug: "x") { id }\n  me { id } }`;
    const fromJit = await new CompiledExecutor({ schema: failing, maxDocuments: 10 }).execute(run(doc));
    const fromJs = await execute({ schema: failing, document: parse(doc) });
    expect(fromJit.errors?.map((e) => e.extensions)).toEqual([{ code: "CONFLICT" }, {}]);
    expect(fromJit.errors?.[0]?.originalError?.message).toBe("boom");
    expect(fromJit.errors?.map((e) => e.toJSON())).toEqual(fromJs.errors?.map((e) => e.toJSON()));
    expect(fromJit.data).toEqual(fromJs.data);
  });

  it("through Apollo (gateway) an unexpected error is masked by formatError with its path and locations, as without it", async () => {
    const failing = throwing(schema, () => new Error("connection reset"));
    const format = (formatted: GraphQLFormattedError, original: unknown) => formatError(formatted, original, () => undefined);
    const viaGateway = new ApolloServer({ gateway: new CompiledExecutor({ schema: failing, maxDocuments: 10 }).gateway(), formatError: format });
    const plain = new ApolloServer({ schema: failing, formatError: format });
    await Promise.all([viaGateway.start(), plain.start()]);
    try {
      const query = `{ me { id } product(slug: "x") { id } }`;
      const [a, b] = await Promise.all([viaGateway.executeOperation({ query }), plain.executeOperation({ query })]);
      expect(a.body).toEqual(b.body);
      expect(a.body.kind === "single" && a.body.singleResult.errors?.[0]).toMatchObject({ message: "Internal server error", path: ["me"], locations: [{ line: 1, column: 3 }] });
    } finally {
      await Promise.all([viaGateway.stop(), plain.stop()]);
    }
  });
});

/** The schema with Query.product and Query.me (both nullable) throwing what `error` makes for them. */
function throwing(schema: GraphQLSchema, error: (field: string) => Error): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, name, typeName) =>
      typeName === "Query" && (name === "product" || name === "me")
        ? {
            ...field,
            resolve: () => {
              throw error(name);
            },
          }
        : field,
  });
}
