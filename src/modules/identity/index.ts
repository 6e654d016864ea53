export { IdentityService, type AuthResult, type NewUser } from "./identity.service.ts";
export { createIdentityLoaders, type IdentityLoaders } from "./identity.loaders.ts";
export { User, type UserRow } from "./user.type.ts";
import { AccessTokens, loadKeyRing } from "../../auth/index.ts";
import type { Config } from "../../config.ts";
import { AuthResolver } from "./auth.resolver.ts";
import { UserResolver } from "./user.resolver.ts";

export const identityResolvers = [AuthResolver, UserResolver] as const;
/** Owner of each type this module guards with `@auth(ownerOrRole)`. */
export const identityOwners = { User: (user: unknown) => (user as { id: string }).id };

/** Access tokens with the configured (or generated and kept) signing key: for CLIs and seeding. */
export async function accessTokensFor(config: Config): Promise<AccessTokens> {
  const keys = await loadKeyRing({ privateKey: config.jwtPrivateKey, verifyKeys: config.jwtVerifyKeys, dataDir: config.dataDir });
  return new AccessTokens(keys, { issuer: config.jwtIssuer, audience: config.jwtAudience, accessTokenTtlSeconds: config.accessTokenTtlSeconds });
}
export { canSeeUser, identityNodeFetchers } from "./user.resolver.ts";
