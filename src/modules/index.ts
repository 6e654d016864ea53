import type { AccessTokens, ExternalTokens, LoginLimiter } from "../auth/index.ts";
import type { Viewer } from "../auth/roles.ts";
import type { Database, Prisma } from "../db/client.ts";
import { pino } from "pino";
import type { Config } from "../config.ts";
import { EventBus } from "../events/bus.ts";
import { OutboxStore } from "../events/outbox.ts";
import type { SchemaParts } from "../graphql/schema.ts";
import { AuditLog, auditResolvers, createAuditLoaders } from "./audit/index.ts";
import { CartService, cartResolvers } from "./cart/index.ts";
import { CatalogService, catalogPlainResolvers, catalogResolvers, categoryProducts, createCatalogLoaders, seesAllProducts } from "./catalog/index.ts";
import { IdentityService, createIdentityLoaders, identityOwners, identityResolvers, accessTokensFor } from "./identity/index.ts";
import { InventoryService, createInventoryLoaders, inventoryPlainResolvers, inventoryResolvers } from "./inventory/index.ts";
import { EventCursorResolver } from "./event-cursor.resolver.ts";
import { createNodeResolver } from "./node.resolver.ts";
import { NotificationsService, createNotificationLoaders, notificationResolvers } from "./notifications/index.ts";
import { OrdersService, createOrderLoaders, orderOwners, orderResolvers } from "./orders/index.ts";
// Each module's node() fetchers and what it hands to the modules below it (they import no module above).
import type { NodeFetchers } from "./node.ts";
import { auditNodeFetchers } from "./audit/index.ts";
import { cartHoldersSql } from "./cart/index.ts";
import { catalogNodeFetchers } from "./catalog/index.ts";
import { identityNodeFetchers } from "./identity/index.ts";
import { catalogStock } from "./inventory/index.ts";
import { notificationNodeFetchers } from "./notifications/index.ts";
import { orderNodeFetchers } from "./orders/index.ts";

/** `node(id)` by type: each module fetches its own types, with its own visibility rule. */
export const nodeFetchers: NodeFetchers = {
  ...identityNodeFetchers,
  ...catalogNodeFetchers,
  ...orderNodeFetchers,
  ...notificationNodeFetchers,
  ...auditNodeFetchers,
};

/** The registration list: every module's resolvers, services, loaders and owner rules. */
export const resolvers = [
  createNodeResolver(nodeFetchers),
  EventCursorResolver,
  ...identityResolvers,
  ...catalogResolvers,
  ...inventoryResolvers,
  ...cartResolvers,
  ...orderResolvers,
  ...notificationResolvers,
  ...auditResolvers,
] as const;

export const owners = { ...identityOwners, ...orderOwners };

/**
 * Hot field resolvers installed as plain functions over the type-graphql ones of the same fields
 * (the same functions the resolver classes call): by type, then field.
 */
export const plainResolvers = mergeByType(catalogPlainResolvers(categoryProducts), inventoryPlainResolvers);

/** What the schema builder (graphql/schema.ts createSchema) takes from the domain. */
export const schemaParts: SchemaParts = { resolvers, owners, plainResolvers };

function mergeByType(...maps: Record<string, Record<string, unknown>>[]): Record<string, Record<string, unknown>> {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const map of maps) for (const [type, fields] of Object.entries(map)) merged[type] = { ...merged[type], ...fields };
  return merged;
}

export interface ServiceDeps {
  prisma: Prisma;
  bus: EventBus;
  tokens: AccessTokens;
  refreshTokenTtlSeconds: number;
  /** Failed log-in limits (the server always has one; CLIs and seeding need none). */
  loginLimiter?: LoginLimiter;
  /** Tokens of an external OpenID Connect provider, when configured. */
  externalTokens?: ExternalTokens;
  /** Config.catalogReads (default "direct"). */
  catalogReads?: "direct" | "compiled" | "general";
  /** The driver-level read the compiled catalog reads use (Database.read); Prisma's raw query otherwise. */
  read?: Database["read"];
}

/** Built once per process by main.ts. */
export function createServices(deps: ServiceDeps) {
  const { prisma, bus } = deps;
  // Who holds a product in their cart is the cart module's to say; notifications only write.
  const notifications = new NotificationsService(prisma, { cartHoldersOf: cartHoldersSql });
  // Every module that records security-relevant changes writes to it inside its own transactions.
  const audit = new AuditLog(prisma);
  const inventory = new InventoryService(prisma, bus, notifications, audit);
  const cart = new CartService(prisma, bus);
  return {
    identity: new IdentityService(prisma, deps.tokens, deps.refreshTokenTtlSeconds, {
      bus,
      audit,
      ...(deps.loginLimiter ? { limiter: deps.loginLimiter } : {}),
      ...(deps.externalTokens ? { external: deps.externalTokens } : {}),
    }),
    catalog: new CatalogService(prisma, bus, notifications, audit, { stock: catalogStock, compiledReads: deps.catalogReads !== "general", directReads: (deps.catalogReads ?? "direct") === "direct", ...(deps.read ? { read: deps.read } : {}) }),
    inventory,
    cart,
    orders: new OrdersService(prisma, bus, inventory, cart, notifications),
    notifications,
    audit,
  };
}

/**
 * Services for command-line tools (seed, category:create): the configured signing key and a bus
 * that only writes the outbox (no subscribers here; running servers relay what it wrote).
 */
export async function seedServicesFor(db: Database, config: Config) {
  const bus = EventBus.writer(new OutboxStore(db.sql), pino({ level: "silent" }));
  return createServices({ prisma: db.prisma, bus, tokens: await accessTokensFor(config), refreshTokenTtlSeconds: config.refreshTokenTtlSeconds });
}

/** Built per operation (and per subscription event): batching and caching never outlive it. */
/**
 * Public subscription fields (no `@auth` on the field; the same events whoever subscribes): their
 * signed-in subscribers may share an execution per role. The others follow the subscriber's own
 * data (cart, orders, notifications) or are re-authorized for each subscriber on every event
 * (orderPlaced), so they run per subscriber.
 */
export const SHARED_SUBSCRIPTIONS: ReadonlySet<string> = new Set(["stockChanged", "productUpdated"]);

/**
 * Which rows a viewer's loaders read: the same for every viewer of one scope (only the catalog's
 * depend on the viewer, through whether they see drafts), so loaders may be shared within a scope.
 */
export const loaderScope = (viewer: Viewer | null): string => (seesAllProducts(viewer) ? "all-products" : "active-products");

export function createLoaders(prisma: Prisma, viewer: Viewer | null) {
  return {
    identity: createIdentityLoaders(prisma),
    catalog: createCatalogLoaders(prisma, viewer),
    inventory: createInventoryLoaders(prisma),
    orders: createOrderLoaders(prisma),
    notifications: createNotificationLoaders(prisma),
    audit: createAuditLoaders(prisma),
  };
}

export type Services = ReturnType<typeof createServices>;
export type Loaders = ReturnType<typeof createLoaders>;

// The platform's context declares `services` and `loaders` as open interfaces; the domain fills
// them in here, so resolvers see them typed while graphql/ imports no module.
declare module "../graphql/context.ts" {
  interface ContextServices extends Services {}
  interface ContextLoaders extends Loaders {}
}
