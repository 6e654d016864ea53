export { IdentityService, type AuthResult, type NewUser } from "./identity.service.ts";
export { createIdentityLoaders, type IdentityLoaders } from "./identity.loaders.ts";
export { User, type UserRow } from "./user.type.ts";
import { AccessTokens, loadSigningKey } from "../../auth/index.ts";
import type { Config } from "../../config.ts";
import type { Prisma } from "../../db/client.ts";
import { IdentityService } from "./identity.service.ts";
import { AuthResolver } from "./auth.resolver.ts";
import { UserResolver } from "./user.resolver.ts";

export const identityResolvers = [AuthResolver, UserResolver] as const;
/** Owner of each type this module guards with `@auth(ownerOrRole)`. */
export const identityOwners = { User: (user: unknown) => (user as { id: string }).id };

/** The identity service with the configured (or generated and kept) signing key: for CLIs and seeding. */
export async function identityServiceFor(prisma: Prisma, config: Config): Promise<IdentityService> {
  const key = await loadSigningKey({ pem: config.jwtPrivateKey, dataDir: config.dataDir });
  const tokens = new AccessTokens(key, { issuer: config.jwtIssuer, audience: config.jwtAudience, accessTokenTtlSeconds: config.accessTokenTtlSeconds });
  return new IdentityService(prisma, tokens, config.refreshTokenTtlSeconds);
}
