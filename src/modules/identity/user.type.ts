import { Directive, Field, ObjectType, registerEnumType } from "type-graphql";
import { ROLES, type RoleName } from "../../auth/roles.ts";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { ConnectionType, Node } from "../../graphql/types.ts";

export const Role = Object.fromEntries(ROLES.map((r) => [r, r])) as { [K in RoleName]: K };
registerEnumType(Role, { name: "Role" });

/** A user row as the database returns it; `id` is resolved to a global id. */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: RoleName;
  createdAt: Date;
}

@ObjectType({ implements: Node, simpleResolvers: true })
export class User extends Node {
  @Field(() => String)
  name!: string;

  @Directive("@auth(ownerOrRole: ADMIN)")
  @Field(() => String)
  email!: string;

  @Directive("@auth(ownerOrRole: STAFF)")
  @Field(() => Role)
  role!: RoleName;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

export const UserConnection = ConnectionType("User", () => User);

@ObjectType({ simpleResolvers: true })
export class AuthPayload {
  @Field(() => String)
  accessToken!: string;

  @Field(() => String)
  refreshToken!: string;

  @Field(() => DateTimeScalar)
  accessTokenExpiresAt!: Date;

  @Field(() => User)
  user!: UserRow;
}
