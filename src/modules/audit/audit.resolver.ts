import { Args, Ctx, Directive, FieldResolver, ID, Query, Resolver, Root } from "type-graphql";
import { hasRole, type Viewer } from "../../auth/roles.ts";
import type { Context } from "../../graphql/context.ts";
import { PageArgs } from "../../graphql/types.ts";
import { toGlobalId } from "../../lib/ids.ts";
import { User } from "../identity/index.ts";
import type { NodeFetchers } from "../node.ts";
import { AuditEvent, AuditEventConnection, type AuditRow } from "./audit.type.ts";

/** Whether `viewer` may read the audit log (as `auditEvents` requires with `@auth(requires: ADMIN)`). */
export const canSeeAudit = (viewer: Viewer | null): boolean => viewer !== null && hasRole(viewer.role, "ADMIN");

/** `node(id)` for log entries: the same null as for an unknown id; the log's ids say nothing to anyone but an ADMIN. */
export const auditNodeFetchers: NodeFetchers = {
  AuditEvent: async (key, ctx) => (canSeeAudit(ctx.viewer) ? ctx.loaders.audit.auditEventById.load(key) : null),
};

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventConnection, { description: "The security audit log, newest first (README: \"Admin and audit log\")." })
  @Directive("@auth(requires: ADMIN)")
  auditEvents(@Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context) {
    return ctx.services.audit.list(args);
  }

  @FieldResolver(() => ID)
  id(@Root() row: AuditRow) {
    return toGlobalId("AuditEvent", row.id);
  }

  @FieldResolver(() => User, { nullable: true, description: "Who did it; null for the system (command-line tools, automatic revocations) and anonymous callers." })
  actor(@Root() row: AuditRow, @Ctx() ctx: Context) {
    // Batched: a page of rows reads its actors in one statement.
    return row.actorId ? ctx.loaders.identity.userById.load(row.actorId) : null;
  }

  @FieldResolver(() => String, { nullable: true, description: "What changed, as a JSON object; never a password, token or key." })
  details(@Root() row: AuditRow) {
    return row.details == null ? null : JSON.stringify(row.details);
  }
}
