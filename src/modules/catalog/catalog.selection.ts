import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  getDirectiveValues,
  valueFromASTUntyped,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLResolveInfo,
  type SelectionSetNode,
} from "graphql";

/**
 * What a catalog read must fetch, taken from the GraphQL selection: the columns the selected
 * fields need and the relations below them, so the read is ONE statement of exactly that
 * (catalog.sql.ts). Anything the planner does not know (a field another module adds later) makes
 * it read the whole row, and that field's own resolver does the rest through its loader.
 */
export type ProductColumn =
  | "slug" | "name" | "description" | "priceCents" | "costCents" | "currency" | "categoryId" | "status" | "createdAt" | "updatedAt";
export type CategoryColumn = "slug" | "name" | "position";

export interface ProductPlan {
  columns: Set<ProductColumn>;
  stock: boolean;
  category: CategoryPlan | null;
}

export interface CategoryPlan {
  columns: Set<CategoryColumn>;
  /** Category.products selections by preloadKey (response key + arguments). */
  connections: Map<string, ConnectionPlan>;
}

export interface ConnectionPlan {
  /** Raw arguments as the resolver receives them (validated where the SQL is built). */
  args: { first?: unknown; after?: unknown };
  node: ProductPlan | null;
  cursors: boolean;
  totalCount: boolean;
}

export const ALL_PRODUCT_COLUMNS: readonly ProductColumn[] = [
  "slug", "name", "description", "priceCents", "costCents", "currency", "categoryId", "status", "createdAt", "updatedAt",
];
const ALL_CATEGORY_COLUMNS: readonly CategoryColumn[] = ["slug", "name", "position"];

const PRODUCT_FIELDS: Record<string, readonly ProductColumn[]> = {
  __typename: [],
  id: [],
  cursor: [],
  slug: ["slug"],
  name: ["name"],
  description: ["description"],
  price: ["priceCents", "currency"],
  costPrice: ["costCents", "currency"],
  status: ["status"],
  createdAt: ["createdAt"],
  updatedAt: ["updatedAt"],
  stock: [],
  inStock: [],
  category: ["categoryId"],
};
const CATEGORY_FIELDS: Record<string, readonly CategoryColumn[]> = { __typename: [], id: [], slug: ["slug"], name: ["name"], products: [] };

/** The part of GraphQLResolveInfo the planner reads (graphql-js and graphql-jit both provide it). */
export type SelectionInfo = Pick<GraphQLResolveInfo, "fieldNodes" | "fragments" | "variableValues" | "path"> & { operation?: GraphQLResolveInfo["operation"] };

/** The key a preloaded Category.products page is kept under: its response key and arguments. */
export function preloadKey(responseKey: string, args: { first?: unknown; after?: unknown }): string {
  return JSON.stringify([responseKey, args.first ?? null, args.after ?? null]);
}

/** Types whose fragments apply to a product / a category (their interfaces included). */
export const PRODUCT_TYPES: ReadonlySet<string> = new Set(["Product", "Node"]);
export const CATEGORY_TYPES: ReadonlySet<string> = new Set(["Category", "Node"]);
export const CONNECTION_TYPES: ReadonlySet<string> = new Set(["ProductConnection"]);
export const EDGE_TYPES: ReadonlySet<string> = new Set(["ProductEdge"]);
export const PAGE_INFO_TYPES: ReadonlySet<string> = new Set(["PageInfo"]);

export class SelectionPlanner {
  constructor(private readonly info: SelectionInfo) {}

  /** The plan for the products a root field (products, product, node) returns. */
  product(): ProductPlan {
    return this.productOf(this.collect(this.rootFieldNodes(), PRODUCT_TYPES));
  }

  /** The plan for a connection of products (the root `products` field). */
  connection(args: ConnectionPlan["args"] = {}): ConnectionPlan {
    return this.connectionOf(this.collect(this.rootFieldNodes(), CONNECTION_TYPES), args);
  }

  /** The plan for categories (the root `categories` field). */
  category(): CategoryPlan {
    return this.categoryOf(this.collect(this.rootFieldNodes(), CATEGORY_TYPES));
  }

  /**
   * The resolved root field's nodes, collected again from the operation with @skip/@include and
   * fragments applied: graphql-jit's `info.fieldNodes` also holds merged nodes that are skipped,
   * and planning those would read what no one asked for (nor paid for in the operation's cost).
   */
  private rootFieldNodes(): readonly FieldNode[] {
    const { operation, path } = this.info;
    if (!operation || path.prev !== undefined) return this.info.fieldNodes;
    const root = new Set([operation.operation === "query" ? "Query" : operation.operation === "mutation" ? "Mutation" : "Subscription"]);
    const fields = new Map<string, FieldNode[]>();
    this.walk(operation.selectionSet, root, fields, new Set());
    return fields.get(String(path.key)) ?? [];
  }

  private productOf(fields: Map<string, FieldNode[]>): ProductPlan {
    const plan: ProductPlan = { columns: new Set(), stock: false, category: null };
    for (const nodes of fields.values()) {
      const name = nodes[0]!.name.value;
      if (!addColumns(plan.columns, PRODUCT_FIELDS, ALL_PRODUCT_COLUMNS, name)) continue;
      if (name === "stock" || name === "inStock") plan.stock = true;
      if (name === "category") plan.category = mergeCategory(plan.category, this.categoryOf(this.collect(nodes, CATEGORY_TYPES)));
    }
    return plan;
  }

  private categoryOf(fields: Map<string, FieldNode[]>): CategoryPlan {
    const plan: CategoryPlan = { columns: new Set(), connections: new Map() };
    for (const [responseKey, nodes] of fields) {
      const name = nodes[0]!.name.value;
      if (!addColumns(plan.columns, CATEGORY_FIELDS, ALL_CATEGORY_COLUMNS, name)) continue;
      if (name === "products") {
        const args = this.args(nodes[0]!);
        plan.connections.set(preloadKey(responseKey, args), this.connectionOf(this.collect(nodes, CONNECTION_TYPES), args));
      }
    }
    return plan;
  }

  private connectionOf(fields: Map<string, FieldNode[]>, args: ConnectionPlan["args"]): ConnectionPlan {
    const plan: ConnectionPlan = { args, node: null, cursors: false, totalCount: false };
    for (const nodes of fields.values()) {
      const name = nodes[0]!.name.value;
      if (name === "totalCount") plan.totalCount = true;
      else if (name === "pageInfo") {
        for (const info of this.collect(nodes, PAGE_INFO_TYPES).values()) {
          const field = info[0]!.name.value;
          if (field === "startCursor" || field === "endCursor") plan.cursors = true;
        }
      } else if (name === "edges") {
        for (const edge of this.collect(nodes, EDGE_TYPES).values()) {
          const field = edge[0]!.name.value;
          if (field === "cursor") plan.cursors = true;
          if (field === "node") plan.node = mergeProduct(plan.node, this.productOf(this.collect(edge, PRODUCT_TYPES)));
        }
      }
    }
    return plan;
  }

  /** Argument values of a field node, variables substituted (not yet validated). */
  args(node: FieldNode): Record<string, unknown> {
    const args: Record<string, unknown> = {};
    for (const arg of node.arguments ?? []) args[arg.name.value] = valueFromASTUntyped(arg.value, this.info.variableValues);
    return args;
  }

  /** The operation's root fields by response key (fragments followed, @skip/@include applied). */
  operationFields(): Map<string, FieldNode[]> {
    const { operation } = this.info;
    const fields = new Map<string, FieldNode[]>();
    if (operation) this.walk(operation.selectionSet, new Set([operation.operation === "query" ? "Query" : "Mutation"]), fields, new Set());
    return fields;
  }

  /** The sub-fields of `nodes` by response key, fragments followed and @skip/@include applied. */
  collect(nodes: readonly FieldNode[], types: ReadonlySet<string>): Map<string, FieldNode[]> {
    const fields = new Map<string, FieldNode[]>();
    const visited = new Set<string>();
    for (const node of nodes) this.walk(node.selectionSet, types, fields, visited);
    return fields;
  }

  private walk(selectionSet: SelectionSetNode | undefined, types: ReadonlySet<string>, fields: Map<string, FieldNode[]>, visited: Set<string>): void {
    for (const selection of selectionSet?.selections ?? []) {
      if (!this.included(selection)) continue;
      if (selection.kind === "Field") {
        const key = selection.alias?.value ?? selection.name.value;
        const list = fields.get(key);
        if (list) list.push(selection);
        else fields.set(key, [selection]);
      } else if (selection.kind === "InlineFragment") {
        if (!selection.typeCondition || types.has(selection.typeCondition.name.value)) this.walk(selection.selectionSet, types, fields, visited);
      } else {
        const name = selection.name.value;
        const fragment: FragmentDefinitionNode | undefined = this.info.fragments[name];
        if (visited.has(name) || !fragment || !types.has(fragment.typeCondition.name.value)) continue;
        visited.add(name);
        this.walk(fragment.selectionSet, types, fields, visited);
      }
    }
  }

  private included(node: Parameters<typeof getDirectiveValues>[1]): boolean {
    if (!node.directives?.length) return true;
    const skip = getDirectiveValues(GraphQLSkipDirective, node, this.info.variableValues);
    if (skip?.if === true) return false;
    const include = getDirectiveValues(GraphQLIncludeDirective, node, this.info.variableValues);
    return include?.if !== false;
  }
}

/**
 * Adds the columns field `name` reads to `into`. A field the planner does not know gets every
 * column (its own resolver reads what it needs from the whole row): false then.
 */
function addColumns<C extends string>(into: Set<C>, known: Record<string, readonly C[]>, all: readonly C[], name: string): boolean {
  const columns = Object.hasOwn(known, name) ? known[name]! : undefined;
  for (const column of columns ?? all) into.add(column);
  return columns !== undefined;
}

function mergeProduct(a: ProductPlan | null, b: ProductPlan): ProductPlan {
  if (!a) return b;
  for (const column of b.columns) a.columns.add(column);
  a.stock ||= b.stock;
  a.category = b.category ? mergeCategory(a.category, b.category) : a.category;
  return a;
}

function mergeCategory(a: CategoryPlan | null, b: CategoryPlan): CategoryPlan {
  if (!a) return b;
  for (const column of b.columns) a.columns.add(column);
  for (const [key, connection] of b.connections) {
    const existing = a.connections.get(key);
    a.connections.set(key, existing ? mergeConnection(existing, connection) : connection);
  }
  return a;
}

function mergeConnection(a: ConnectionPlan, b: ConnectionPlan): ConnectionPlan {
  a.node = b.node ? mergeProduct(a.node, b.node) : a.node;
  a.cursors ||= b.cursors;
  a.totalCount ||= b.totalCount;
  return a;
}
