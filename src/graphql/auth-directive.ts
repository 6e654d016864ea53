import { getDirective, MapperKind, mapSchema } from "@graphql-tools/utils";
import {
  defaultFieldResolver,
  DirectiveLocation,
  GraphQLDirective,
  GraphQLSchema,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLEnumType,
  type GraphQLFieldResolver,
} from "graphql";
import { hasRole, type RoleName, type Viewer } from "../auth/roles.ts";
import { SKIP, transform } from "../events/iterators.ts";
import { forbidden, unauthenticated } from "./errors.ts";

/**
 * `@auth` as API.md defines it. One transformer wraps `resolve` and `subscribe` of every field the
 * directive marks (on the field, or on its object type), so queries, mutations, subscriptions and
 * every subscription payload are checked by the same code, per caller.
 */
export const AUTH_DIRECTIVE_DESCRIPTION =
  "Who may read or call this. Without arguments: any signed-in user. `requires`: that role or higher (CUSTOMER < STAFF < ADMIN). `ownerOrRole`: the owner of the parent object, or that role or higher.";

export function authDirective(roleEnum: GraphQLEnumType): GraphQLDirective {
  return new GraphQLDirective({
    name: "auth",
    description: AUTH_DIRECTIVE_DESCRIPTION,
    locations: [DirectiveLocation.OBJECT, DirectiveLocation.FIELD_DEFINITION],
    args: { requires: { type: roleEnum }, ownerOrRole: { type: roleEnum } },
  });
}

export interface AuthRule {
  requires?: RoleName;
  ownerOrRole?: RoleName;
}

/** For each type that uses `ownerOrRole`: the user id that owns a resolved value of that type. */
export type OwnerResolvers = Record<string, (parent: unknown) => string | null | undefined>;

/** Throws UNAUTHENTICATED or FORBIDDEN when `viewer` may not use a field guarded by `rule`. */
export function checkAuth(rule: AuthRule, viewer: Viewer | null, owner: () => string | null | undefined): void {
  if (!viewer) throw unauthenticated();
  if (rule.requires && !hasRole(viewer.role, rule.requires)) {
    throw forbidden(`Requires role ${rule.requires} or higher`);
  }
  if (rule.ownerOrRole && !hasRole(viewer.role, rule.ownerOrRole) && owner() !== viewer.userId) {
    throw forbidden(`Only the owner or role ${rule.ownerOrRole} or higher may read this`);
  }
}

function allows(rule: AuthRule, viewer: Viewer | null): boolean {
  try {
    checkAuth(rule, viewer, () => null);
    return true;
  } catch {
    return false;
  }
}

export function applyAuthDirective(schema: GraphQLSchema, owners: OwnerResolvers): GraphQLSchema {
  const rootTypes = new Set(
    [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].map((t) => t?.name),
  );
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig, fieldName, typeName) => {
      const type = schema.getType(typeName)!;
      const rule = (getDirective(schema, fieldConfig, "auth")?.[0] ?? getDirective(schema, type, "auth")?.[0]) as
        | AuthRule
        | undefined;
      if (!rule) return fieldConfig;
      let owner: (parent: unknown) => string | null | undefined = () => null;
      if (rule.ownerOrRole) {
        const resolver = owners[typeName];
        if (!resolver || rootTypes.has(typeName)) {
          throw new Error(`@auth(ownerOrRole) on ${typeName}.${fieldName}: no owner is defined for ${typeName}`);
        }
        owner = resolver;
      }
      const guard =
        <T extends GraphQLFieldResolver<unknown, { viewer: Viewer | null }>>(inner: T) =>
        (source: unknown, args: Record<string, unknown>, context: { viewer: Viewer | null }, info: Parameters<T>[3]) => {
          checkAuth(rule, context.viewer, () => owner(source));
          return inner(source, args, context, info);
        };
      const subscribe = fieldConfig.subscribe;
      return {
        ...fieldConfig,
        resolve: guard(fieldConfig.resolve ?? defaultFieldResolver),
        ...(subscribe
          ? {
              // Checked when subscribing and again for every event: a subscriber whose role was
              // lowered (or whose connection changed hands) stops receiving events at once.
              subscribe: async (source: unknown, args: Record<string, unknown>, context: { viewer: Viewer | null }, info: Parameters<typeof subscribe>[3]) => {
                checkAuth(rule, context.viewer, () => owner(source));
                const events = (await subscribe(source, args, context, info)) as AsyncIterable<unknown>;
                return transform(events, (event) => (allows(rule, context.viewer) ? event : SKIP));
              },
            }
          : {}),
      };
    },
  });
}

const ownerDependence = new WeakMap<DocumentNode, boolean>();

/**
 * Whether what `document` selects can differ between two viewers of the same role: a field under
 * `@auth(ownerOrRole: …)` (on the field or its type) answers by who owns the parent. Without one,
 * a result depends on the viewer's role alone (anonymous counting as a role). Cached per document.
 */
export function selectsOwnerDependentFields(schema: GraphQLSchema, document: DocumentNode): boolean {
  const cached = ownerDependence.get(document);
  if (cached !== undefined) return cached;
  let found = false;
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        const parent = typeInfo.getParentType();
        if (!field || !parent) return;
        const rule = (getDirective(schema, field, "auth")?.[0] ?? getDirective(schema, parent, "auth")?.[0]) as AuthRule | undefined;
        if (rule?.ownerOrRole) found = true;
      },
    }),
  );
  ownerDependence.set(document, found);
  return found;
}
