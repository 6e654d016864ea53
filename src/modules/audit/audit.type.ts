import { Field, ObjectType } from "type-graphql";
import { DateTimeScalar } from "../../graphql/scalars.ts";
import { ConnectionType, Node } from "../../graphql/types.ts";

/** An audit row as the database returns it; `id`, `actor` and `details` are resolved in audit.resolver.ts. */
export interface AuditRow {
  id: string;
  seq: bigint;
  action: string;
  actorId: string | null;
  target: string | null;
  details: unknown;
  createdAt: Date;
}

@ObjectType({
  implements: Node,
  simpleResolvers: true,
  description: "One entry of the security audit log (ADMIN only): who did what to which object, and when.",
})
export class AuditEvent extends Node {
  @Field(() => String, { description: "What was done, as `<subject>.<verb>`: auth.logIn, auth.logInFailed, user.roleChanged, session.revoked, partner.keyUsed, product.created, category.updated, …" })
  action!: string;

  @Field(() => String, { nullable: true, description: "The global id of what the action was done to (a User, Product or Category), or a partner id." })
  target!: string | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

export const AuditEventConnection = ConnectionType("AuditEvent", () => AuditEvent);
