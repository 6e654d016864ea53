export { IdentityService, type AuthResult, type NewUser } from "./identity.service.ts";
export { createIdentityLoaders, type IdentityLoaders } from "./identity.loaders.ts";
export { User, type UserRow } from "./user.type.ts";
import { AuthResolver } from "./auth.resolver.ts";
import { UserResolver } from "./user.resolver.ts";

export const identityResolvers = [AuthResolver, UserResolver] as const;
/** Owner of each type this module guards with `@auth(ownerOrRole)`. */
export const identityOwners = { User: (user: unknown) => (user as { id: string }).id };
