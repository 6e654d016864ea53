import { getArgumentValues, getVariableValues, type FieldNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import type { Viewer } from "../../auth/roles.ts";
import { categoryPage, rootPage, type ProductsQuery } from "./catalog.pages.ts";
import {
  CATEGORY_TYPES,
  CONNECTION_TYPES,
  EDGE_TYPES,
  PAGE_INFO_TYPES,
  PRODUCT_TYPES,
  SelectionPlanner,
} from "./catalog.selection.ts";
import { CatalogSql, PRODUCT_SQL, type PageSpec } from "./catalog.sql.ts";
import { productKey } from "./catalog.validation.ts";
import type { CatalogStock } from "./catalog.stock.ts";

/**
 * The whole answer of a catalog query rendered by PostgreSQL: for an operation made only of the
 * public catalog's plain fields (`products`, `product`, `categories` and below them what
 * CATALOG_FIELDS lists), ONE statement returns the text of the response's `data`, byte for byte
 * what the executor would serialize (keys in selection order, JSON.stringify's escaping, global
 * ids, cursors and dates encoded as the resolvers encode them). Node neither parses rows nor runs
 * resolvers nor serializes: the text is sent as it comes.
 *
 * Anything else answers `undefined` and the operation runs on the executor as before (whose
 * compiled reads are one statement too): a field not listed here (`costPrice` and every field
 * under `@auth`, a field another module adds, `cursor`, `node`), arguments the resolvers refuse
 * (so the error is theirs), variables that do not coerce. test/api/catalog-compiled.test.ts
 * compares the bytes of both answers for a table of selections.
 */
export interface DirectOperation {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
  /** The request's variables, not yet coerced. */
  variables: Record<string, unknown> | undefined;
}

/** Thrown while building: this operation is not for the direct path. */
class NotDirect extends Error {}
const notDirect = (): never => {
  throw new NotDirect();
};

/**
 * A JSON text as SQL: literal pieces and SQL expressions, concatenated by ONE `concat(...)` call
 * per object (not a chain of `||`, each of which copies the text so far), nested objects flattened
 * into their parent's call. Expressions are never NULL where they are used.
 */
type Part = { lit: string } | { sql: string };
type Json = Part[];

const lit = (json: string): Json => [{ lit: json }];
const expr = (sql: string): Json => [{ sql }];
/** A string, number or boolean value: its JSON (PostgreSQL escapes strings as JSON.stringify does). */
const value = (sql: string): Json => expr(`to_json(${sql})`);
const bool = (sql: string): Json => expr(`CASE WHEN ${sql} THEN 'true' ELSE 'false' END`);
const quoted = (sql: string): Json => [{ lit: '"' }, { sql }, { lit: '"' }];

/** `{"a":…,"b":…}`: keys are GraphQL names (no escaping needed). */
function object(members: [key: string, value: Json][]): Json {
  if (members.length === 0) return lit("{}");
  const parts: Json = [];
  members.forEach(([key, json], i) => parts.push({ lit: `${i === 0 ? "{" : ","}"${key}":` }, ...json));
  parts.push({ lit: "}" });
  return parts;
}

const sqlLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;
/** PostgreSQL functions take at most 100 arguments. */
const MAX_ARGS = 90;

/** The SQL text expression of `json`. */
function render(json: Json): string {
  const args: string[] = [];
  let pending: string | undefined;
  for (const part of json) {
    if ("lit" in part) pending = (pending ?? "") + part.lit;
    else {
      if (pending !== undefined) args.push(sqlLiteral(pending));
      pending = undefined;
      args.push(part.sql);
    }
  }
  if (pending !== undefined) args.push(sqlLiteral(pending));
  if (args.length === 1 && "lit" in json[0]! && json.every((p) => "lit" in p)) return args[0]!;
  return concat(args);
}

function concat(args: string[]): string {
  if (args.length <= MAX_ARGS) return `concat(${args.join(", ")})`;
  const chunks: string[] = [];
  for (let i = 0; i < args.length; i += MAX_ARGS) chunks.push(concat(args.slice(i, i + MAX_ARGS)));
  return concat(chunks);
}

/** base64url without padding, as Buffer's "base64url" (PostgreSQL's base64 breaks lines at 76). */
const base64url = (bytes: string): string => `rtrim(translate(encode(${bytes}, 'base64'), E'+/\\n', '-_'), '=')`;
/**
 * A Relay global id, as lib/ids.ts toGlobalId: base64url("Type:<uuid>") for the two types here.
 * Cheaper than base64url() (translate() was a quarter of the nested page's statement), and the
 * same text: "Product:" and "Category:" followed by a UUID's 36 characters are 44 and 45 bytes,
 * 60 characters of base64 (no line break before 76), and neither the fixed prefixes nor a
 * lower-case UUID (hex digits and dashes, from a 3-byte boundary on) give a 6-bit group of 62 or
 * 63, the only ones where base64 (+ /) and base64url (- _) differ (test/api/catalog-compiled.test.ts checks 20,000 random ones).
 * No backslash either, which ::bytea would read as an escape.
 */
export const globalIdSql = (type: "Product" | "Category", key: string): string => `rtrim(encode(('${type}:' || ${key})::bytea, 'base64'), '=')`;
const globalId = (type: "Product" | "Category", key: string): Json => quoted(globalIdSql(type, key));
/** DateTime as graphql-scalars serializes a Date: UTC, milliseconds, "Z". */
const isoText = (sql: string): string => `to_char(${sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export class CatalogJson {
  private readonly sql: CatalogSql;
  private readonly planner: SelectionPlanner;
  private readonly variables: Record<string, unknown>;

  private constructor(
    private readonly op: DirectOperation,
    variables: Record<string, unknown>,
    viewer: Viewer | null,
    stock: CatalogStock,
  ) {
    this.variables = variables;
    this.sql = new CatalogSql(viewer, categoryPage, stock);
    this.planner = new SelectionPlanner({ fieldNodes: [], fragments: op.fragments, variableValues: variables, path: { prev: undefined, key: "", typename: undefined }, operation: op.operation });
  }

  /** The statement answering `op` for `viewer`, or undefined when the executor must answer it. */
  static build(op: DirectOperation, viewer: Viewer | null, stock: CatalogStock): { text: string; values: unknown[] } | undefined {
    if (op.operation.operation !== "query") return undefined;
    // Most queries that are not the catalog's say so at their first level: no coercion, no planning.
    if (op.operation.selectionSet.selections.some((s) => s.kind === "Field" && !DIRECT_ROOTS.has(s.name.value))) return undefined;
    const coerced = getVariableValues(op.schema, op.operation.variableDefinitions ?? [], op.variables ?? {});
    if (coerced.errors) return undefined;
    try {
      const builder = new CatalogJson(op, coerced.coerced, viewer, stock);
      const root = builder.root();
      return { text: `SELECT ${render(root)} AS r`, values: builder.sql.params.values };
    } catch (error) {
      if (error instanceof NotDirect) return undefined;
      // The resolvers' own refusals (bad arguments): theirs to answer.
      if ((error as { extensions?: unknown }).extensions !== undefined) return undefined;
      throw error;
    }
  }

  private args(typeName: string, node: FieldNode): Record<string, unknown> {
    const type = this.op.schema.getType(typeName) as { getFields?: () => Record<string, Parameters<typeof getArgumentValues>[0]> } | undefined;
    const def = type?.getFields?.()[node.name.value] ?? notDirect();
    return getArgumentValues(def, node, this.variables);
  }

  private root(): Json {
    const members: [string, Json][] = [];
    for (const [key, nodes] of this.planner.operationFields()) {
      const node = nodes[0]!;
      switch (node.name.value) {
        case "__typename":
          members.push([key, lit(`"Query"`)]);
          break;
        case "products": {
          const input = this.args("Query", node) as ProductsQuery;
          members.push([key, this.connection(nodes, rootPage(input, this.sql), () => [])]);
          break;
        }
        case "categories": {
          const c = this.sql.alias("c");
          members.push([key, [{ lit: "[" }, { sql: `(SELECT coalesce(string_agg(${render(this.category(nodes, c))}, ',' ORDER BY ${c}.position, ${c}.name, ${c}.id), '') FROM categories ${c})` }, { lit: "]" }]]);
          break;
        }
        case "product": {
          const { id, slug } = this.args("Query", node) as { id?: string | null; slug?: string | null };
          if ((id == null) === (slug == null)) notDirect();
          const a = this.sql.alias("p");
          const where = id != null ? `${a}.id = ${this.sql.params.add(productKey(id), "uuid")}` : `${a}.slug = ${this.sql.params.add(slug, "text")}`;
          const joins: string[] = [];
          const product = this.product(nodes, a, joins);
          members.push([key, expr(`coalesce((SELECT ${render(product)} FROM products ${a}${joins.join("")} WHERE ${where} AND ${this.sql.visible(a)}), 'null')`)]);
          break;
        }
        default:
          notDirect();
      }
    }
    return object(members);
  }

  /** A ProductConnection: `spec`'s page, tied to its parent by `scope`. */
  private connection(nodes: readonly FieldNode[], spec: PageSpec, scope: (p: string) => string[]): Json {
    const t = this.sql.alias("t");
    const { inner, limit } = this.sql.pageRows(spec, scope);
    const returned = `FILTER (WHERE ${t}.rn <= ${limit})`;
    const cursor = (): Json => {
      const sort = `${t}.${PRODUCT_SQL[spec.sort]}`;
      const key = spec.sort === "createdAt" ? quoted(isoText(sort)) : value(sort);
      // encodeCursor([sort value, id]): base64url of its JSON.stringify (names may hold backslashes: convert_to).
      return quoted(base64url(`convert_to(${render([{ lit: "[" }, ...key, { lit: ',"' }, { sql: `${t}.id` }, { lit: '"]' }])}, 'UTF8')`));
    };
    const members: [string, Json][] = [];
    const joins: string[] = [];
    for (const [key, fieldNodes] of this.planner.collect(nodes, CONNECTION_TYPES)) {
      switch (fieldNodes[0]!.name.value) {
        case "__typename":
          members.push([key, lit(`"ProductConnection"`)]);
          break;
        case "totalCount":
          members.push([key, expr(this.sql.countSql(spec, scope))]);
          break;
        case "edges": {
          const edge: [string, Json][] = [];
          for (const [edgeKey, edgeNodes] of this.planner.collect(fieldNodes, EDGE_TYPES)) {
            const name = edgeNodes[0]!.name.value;
            if (name === "__typename") edge.push([edgeKey, lit(`"ProductEdge"`)]);
            else if (name === "cursor") edge.push([edgeKey, cursor()]);
            else if (name === "node") edge.push([edgeKey, this.product(edgeNodes, t, joins)]);
            else notDirect();
          }
          members.push([key, [{ lit: "[" }, { sql: `coalesce(string_agg(${render(object(edge))}, ',' ORDER BY ${t}.rn) ${returned}, '')` }, { lit: "]" }]]);
          break;
        }
        case "pageInfo": {
          const info: [string, Json][] = [];
          for (const [infoKey, infoNodes] of this.planner.collect(fieldNodes, PAGE_INFO_TYPES)) {
            const name = infoNodes[0]!.name.value;
            if (name === "__typename") info.push([infoKey, lit(`"PageInfo"`)]);
            else if (name === "hasNextPage") info.push([infoKey, bool(`count(*) > ${limit}`)]);
            else if (name === "hasPreviousPage") info.push([infoKey, lit("false")]);
            else if (name === "startCursor") info.push([infoKey, expr(`coalesce((array_agg(${render(cursor())} ORDER BY ${t}.rn) ${returned})[1], 'null')`)]);
            else if (name === "endCursor") info.push([infoKey, expr(`coalesce((array_agg(${render(cursor())} ORDER BY ${t}.rn DESC) ${returned})[1], 'null')`)]);
            else notDirect();
          }
          members.push([key, object(info)]);
          break;
        }
        default:
          notDirect();
      }
    }
    return expr(`(SELECT ${render(object(members))} FROM (${inner}) ${t}${joins.join("")})`);
  }

  /**
   * A Product from the row under alias `a`; `joins` gets what the caller joins where `a` is in
   * scope (its category, so PostgreSQL reads each category once, not a scan per product).
   */
  private product(nodes: readonly FieldNode[], a: string, joins: string[]): Json {
    const members: [string, Json][] = [];
    const stock = `coalesce(${this.sql.stock.onHandSql(`${a}.id`)}, 0)`;
    for (const [key, fieldNodes] of this.planner.collect(nodes, PRODUCT_TYPES)) {
      const name = fieldNodes[0]!.name.value;
      switch (name) {
        case "__typename":
          members.push([key, lit(`"Product"`)]);
          break;
        case "id":
          members.push([key, globalId("Product", `${a}.id`)]);
          break;
        case "slug":
        case "name":
        case "description":
          members.push([key, value(`${a}.${name}`)]);
          break;
        case "status":
          members.push([key, quoted(`${a}.status`)]);
          break;
        case "createdAt":
        case "updatedAt":
          members.push([key, quoted(isoText(`${a}.${PRODUCT_SQL[name]}`))]);
          break;
        case "price": {
          const money: [string, Json][] = [];
          for (const [moneyKey, moneyNodes] of this.planner.collect(fieldNodes, MONEY_TYPES)) {
            const field = moneyNodes[0]!.name.value;
            if (field === "__typename") money.push([moneyKey, lit(`"Money"`)]);
            else if (field === "amountCents") money.push([moneyKey, expr(`${a}.price_cents`)]);
            else if (field === "currency") money.push([moneyKey, value(`btrim(${a}.currency)`)]);
            else notDirect();
          }
          members.push([key, object(money)]);
          break;
        }
        case "stock":
          members.push([key, expr(stock)]);
          break;
        case "inStock":
          members.push([key, bool(`${stock} > 0`)]);
          break;
        case "category": {
          const c = this.sql.alias("c");
          joins.push(` JOIN categories ${c} ON ${c}.id = ${a}.category_id`);
          members.push([key, this.category(fieldNodes, c)]);
          break;
        }
        default:
          // costPrice (@auth), cursor, and whatever other modules add: the executor's.
          notDirect();
      }
    }
    return object(members);
  }

  /** A Category from the row under alias `c`. */
  private category(nodes: readonly FieldNode[], c: string): Json {
    const members: [string, Json][] = [];
    for (const [key, fieldNodes] of this.planner.collect(nodes, CATEGORY_TYPES)) {
      const node = fieldNodes[0]!;
      switch (node.name.value) {
        case "__typename":
          members.push([key, lit(`"Category"`)]);
          break;
        case "id":
          members.push([key, globalId("Category", `${c}.id`)]);
          break;
        case "slug":
        case "name":
          members.push([key, value(`${c}.${node.name.value}`)]);
          break;
        case "products": {
          const args = this.args("Category", node) as { first?: unknown; after?: unknown };
          members.push([key, this.connection(fieldNodes, categoryPage({ args, node: null, cursors: false, totalCount: false }), (p) => [`${p}.category_id = ${c}.id`])]);
          break;
        }
        default:
          notDirect();
      }
    }
    return object(members);
  }
}

const MONEY_TYPES: ReadonlySet<string> = new Set(["Money"]);
/** The root fields root() answers (a root field under a false @include is left to the executor too). */
const DIRECT_ROOTS: ReadonlySet<string> = new Set(["__typename", "products", "categories", "product"]);
