import type { AccessTokens } from "../auth/tokens.ts";
import type { Viewer } from "../auth/roles.ts";
import type { Prisma } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { CatalogService, catalogResolvers, createCatalogLoaders } from "./catalog/index.ts";
import { IdentityService, createIdentityLoaders, identityOwners, identityResolvers } from "./identity/index.ts";
import { InventoryService, createInventoryLoaders, inventoryResolvers } from "./inventory/index.ts";
import { NodeResolver } from "./node.resolver.ts";

/** The registration list: every module's resolvers, services, loaders and owner rules. */
export const resolvers = [NodeResolver, ...identityResolvers, ...catalogResolvers, ...inventoryResolvers] as const;

export const owners = { ...identityOwners };

export interface ServiceDeps {
  prisma: Prisma;
  bus: EventBus;
  tokens: AccessTokens;
  refreshTokenTtlSeconds: number;
}

/** Built once per process by main.ts. */
export function createServices(deps: ServiceDeps) {
  return {
    identity: new IdentityService(deps.prisma, deps.tokens, deps.refreshTokenTtlSeconds),
    catalog: new CatalogService(deps.prisma, deps.bus),
    inventory: new InventoryService(deps.prisma, deps.bus),
  };
}

/** Built per operation (and per subscription event): batching and caching never outlive it. */
export function createLoaders(prisma: Prisma, viewer: Viewer | null) {
  return {
    identity: createIdentityLoaders(prisma),
    catalog: createCatalogLoaders(prisma, viewer),
    inventory: createInventoryLoaders(prisma),
  };
}

export type Services = ReturnType<typeof createServices>;
export type Loaders = ReturnType<typeof createLoaders>;
