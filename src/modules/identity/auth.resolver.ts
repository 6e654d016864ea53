import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { SignUpInput } from "./identity.args.ts";
import type { AuthResult } from "./identity.service.ts";
import { AuthPayload } from "./user.type.ts";

/** The payload belongs to the user who just signed in: authorize the rest of the response as them. */
function signedIn(ctx: Context, result: AuthResult): AuthResult {
  ctx.viewer = result.viewer;
  return result;
}

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload)
  async signUp(@Arg("input", () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context) {
    return signedIn(ctx, await ctx.services.identity.signUp(input, ctx.userAgent));
  }

  @Mutation(() => AuthPayload)
  async logIn(@Arg("email", () => String) email: string, @Arg("password", () => String) password: string, @Ctx() ctx: Context) {
    return signedIn(ctx, await ctx.services.identity.logIn(email, password, ctx.userAgent));
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
}
