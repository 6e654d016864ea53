import { readFileSync } from "node:fs";
import { GraphQLObjectType, GraphQLSchema, buildSchema, getNamedType } from "graphql";
import { expect, it } from "vitest";
import { createSchema, printContract } from "../../src/graphql/schema.ts";
import { schemaParts } from "../../src/modules/index.ts";

it("schema.graphql is exactly the schema the server builds (run `npm run schema:emit` after changing it)", async () => {
  const committed = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
  expect(printContract(await createSchema(schemaParts))).toBe(committed);
});

/** Root fields anyone may use, each with the reason; everything else at the root must carry @auth. */
const PUBLIC_ROOT_FIELDS: Record<string, string> = {
  "Query.node": "visibility is decided per type in node.resolver.ts (others' orders, users, notifications: null)",
  "Query.me": "null when anonymous",
  "Query.product": "catalog; non-ACTIVE products only for STAFF",
  "Query.products": "catalog; non-ACTIVE products only for STAFF",
  "Query.categories": "catalog",
  "Query.eventCursor": "a position in the event stream; what it resumes is authorized per subscription",
  "Mutation.signUp": "the way into an account",
  "Mutation.logIn": "the way into an account (rate limited)",
  "Mutation.refreshSession": "authenticated by the refresh token itself",
  "Mutation.logOut": "authenticated by the refresh token itself",
  "Subscription.stockChanged": "catalog facts anyone may watch",
  "Subscription.productUpdated": "catalog facts anyone may watch",
};

/** Types whose every value belongs to one user (or to staff): reaching one needs an auth decision. */
const PRIVATE_TYPES = new Set(["Cart", "Order", "OrderConnection", "Notification", "NotificationConnection", "NotificationPreference", "UserConnection", "AuditEvent", "AuditEventConnection"]);

/** Fields of otherwise public types that are private themselves. */
const PRIVATE_FIELDS = ["User.email", "User.role", "User.orders", "Product.costPrice"];

function hasAuth(field: { astNode?: { directives?: readonly { name: { value: string } }[] } | null | undefined }): boolean {
  return field.astNode?.directives?.some((d) => d.name.value === "auth") ?? false;
}

/** Fields that need an auth decision and have none. */
function unguarded(schema: GraphQLSchema): string[] {
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].map((t) => t?.name));
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType) || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) {
      const name = `${type.name}.${field.name}`;
      const returns = getNamedType(field.type).name;
      const needsDecision =
        roots.has(type.name) ||
        PRIVATE_FIELDS.includes(name) ||
        // Inside a private type its fields inherit the decision made on the way in.
        (PRIVATE_TYPES.has(returns) && !PRIVATE_TYPES.has(type.name) && !type.name.endsWith("Edge"));
      if (needsDecision && !hasAuth(field) && !(name in PUBLIC_ROOT_FIELDS)) missing.push(name);
    }
  }
  return missing;
}

it("every root field, every field leading to private data and every private field carries an explicit auth decision", async () => {
  const schema = await createSchema(schemaParts);
  expect(unguarded(schema), "fields without @auth and not listed as public").toEqual([]);
  for (const name of Object.keys(PUBLIC_ROOT_FIELDS)) {
    const [typeName, fieldName] = name.split(".") as [string, string];
    const field = (schema.getType(typeName) as GraphQLObjectType).getFields()[fieldName];
    expect(field, `${name} is listed as public but does not exist`).toBeDefined();
    expect(hasAuth(field!), `${name} is listed as public but carries @auth`).toBe(false);
  }
});

it("the policy check notices unguarded fields: a new root field, a path to private data, a private field", async () => {
  const sdl = printContract(await createSchema(schemaParts))
    .replace("type Query {", "type Query {\n  secretOrders: OrderConnection!")
    .replace(/type Category implements Node[^{]*\{/, (head) => `${head}\n  topBuyers: UserConnection!`)
    .replace("email: String! @auth(ownerOrRole: ADMIN)", "email: String!");
  expect(unguarded(buildSchema(sdl)).sort()).toEqual(["Category.topBuyers", "Query.secretOrders", "User.email"]);
});

it("plain properties of the types outside catalog and inventory resolve without a type-graphql wrapper (simpleResolvers)", async () => {
  const schema = await createSchema(schemaParts);
  const resolverOf = (name: string) => {
    const [typeName, fieldName] = name.split(".") as [string, string];
    const field = (schema.getType(typeName) as GraphQLObjectType).getFields()[fieldName];
    expect(field, `${name} exists`).toBeDefined();
    return field!.resolve;
  };
  const plain = [
    "Money.amountCents",
    "Money.currency",
    "PageInfo.hasNextPage",
    "PageInfo.endCursor",
    "ProductEdge.node",
    "OrderConnection.edges",
    "UserConnection.pageInfo",
    "User.name",
    "User.createdAt",
    "AuthPayload.accessToken",
    "Order.number",
    "Order.status",
    "OrderItem.quantity",
    "Notification.title",
    "NotificationPreference.enabled",
    "Cart.version",
    "CartItem.quantity",
  ];
  expect(plain.filter((name) => resolverOf(name) !== undefined), "fields wrapped by type-graphql").toEqual([]);
  // Methods, field resolvers and @auth keep theirs.
  for (const name of ["ProductConnection.totalCount", "Order.items", "User.id", "User.email"]) expect(resolverOf(name), name).toBeDefined();
});
