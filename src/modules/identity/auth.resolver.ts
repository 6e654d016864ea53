import { Arg, Ctx, Directive, Mutation, Resolver } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { badInput, forbidden } from "../../graphql/errors.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { SignUpInput } from "./identity.args.ts";
import type { AuthResult } from "./identity.service.ts";
import { AuthPayload } from "./user.type.ts";

/** The payload belongs to the user who just signed in: authorize the rest of the response as them. */
function signedIn(ctx: Context, result: AuthResult): AuthResult {
  ctx.viewer = result.viewer;
  return result;
}

/**
 * Operation cost (see graphql/limits.ts) of a mutation that hashes a password (argon2id, ~19 MiB
 * and tens of milliseconds each): with the default budget of 10,000 an anonymous request may hash
 * at most three.
 */
export const PASSWORD_HASH_COST = 3_000;

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, { complexity: PASSWORD_HASH_COST })
  async signUp(@Arg("input", () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context) {
    return signedIn(ctx, await ctx.services.identity.signUp(input, ctx.userAgent, ctx.clientAddress));
  }

  @Mutation(() => AuthPayload, { complexity: PASSWORD_HASH_COST })
  async logIn(@Arg("email", () => String) email: string, @Arg("password", () => String) password: string, @Ctx() ctx: Context) {
    return signedIn(ctx, await ctx.services.identity.logIn(email, password, ctx.userAgent, ctx.clientAddress));
  }

  @Mutation(() => AuthPayload, {
    description: "Rotates: the old refresh token stops working. Reusing a rotated token revokes the whole session.",
  })
  async refreshSession(@Arg("refreshToken", () => String) refreshToken: string, @Ctx() ctx: Context) {
    return signedIn(ctx, await ctx.services.identity.refreshSession(refreshToken));
  }

  @Mutation(() => Boolean)
  logOut(@Arg("refreshToken", () => String) refreshToken: string, @Ctx() ctx: Context) {
    return ctx.services.identity.logOut(refreshToken);
  }

  @Mutation(() => Boolean, { description: "Revokes every session of the signed-in user; their open sockets close (4403) within a second." })
  @Directive("@auth")
  logOutEverywhere(@Ctx() ctx: Context) {
    return ctx.services.identity.logOutEverywhere(ctx.viewer!);
  }

  @Mutation(() => DateTimeScalar, {
    description:
      "Sent over a WebSocket before its token expires: replaces the connection's access token with a fresh one of the same user, keeping every subscription. Returns the new expiry.",
  })
  @Directive("@auth")
  async renewConnection(@Arg("accessToken", () => String) accessToken: string, @Ctx() ctx: Context) {
    if (!ctx.connection) throw badInput("renewConnection is sent over the WebSocket whose token it renews", "accessToken");
    const next = await ctx.services.identity.viewerFromToken(accessToken);
    if (next.userId !== ctx.viewer!.userId) throw forbidden("The new token belongs to another user");
    ctx.connection.renew(next);
    return next.tokenExpiresAt;
  }
}
