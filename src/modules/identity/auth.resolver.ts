import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import type { Context } from "../../graphql/context.ts";
import { SignUpInput } from "./identity.args.ts";
import { AuthPayload } from "./user.type.ts";

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload)
  signUp(@Arg("input", () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context) {
    return ctx.services.identity.signUp(input, ctx.userAgent);
  }

  @Mutation(() => AuthPayload)
  logIn(@Arg("email", () => String) email: string, @Arg("password", () => String) password: string, @Ctx() ctx: Context) {
    return ctx.services.identity.logIn(email, password, ctx.userAgent);
  }

  @Mutation(() => AuthPayload, {
    description: "Rotates: the old refresh token stops working. Reusing a rotated token revokes the whole session.",
  })
  refreshSession(@Arg("refreshToken", () => String) refreshToken: string, @Ctx() ctx: Context) {
    return ctx.services.identity.refreshSession(refreshToken);
  }

  @Mutation(() => Boolean)
  logOut(@Arg("refreshToken", () => String) refreshToken: string, @Ctx() ctx: Context) {
    return ctx.services.identity.logOut(refreshToken);
  }
}
