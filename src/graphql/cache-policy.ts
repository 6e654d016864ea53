import {
  getNamedType,
  getOperationAST,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  type ArgumentNode,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type SelectionSetNode,
} from "graphql";
import { BoundedCache } from "../lib/bounded-cache.ts";

export type CacheScope = "PUBLIC" | "PRIVATE";

/** What an operation's response may be cached for: `maxAge` 0 means not at all (`no-store`). */
export interface CachePolicy {
  maxAge: number;
  scope: CacheScope;
}

/** A `@cacheControl` directive as written on a type or field. */
interface Hint {
  maxAge?: number | undefined;
  scope?: CacheScope | undefined;
  inheritMaxAge?: boolean;
}

interface Accumulated {
  maxAge?: number | undefined;
  scope?: CacheScope | undefined;
}

interface Computed {
  policy: CachePolicy;
  /** Whether a field (or the type it is on) carries `@auth`: its value depends on who asks. */
  guarded: boolean;
}

const MAX_DOCUMENTS = 1_000;
const NOT_CACHEABLE: CachePolicy = { maxAge: 0, scope: "PUBLIC" };

/**
 * The cache policy of a document, computed once per document from the schema's `@cacheControl`
 * hints instead of per resolved field (Apollo's cache-control plugin hooks every field; this does
 * the same arithmetic once, on the selection):
 *
 * - every field restricts the policy: a root field, or a field returning an object, interface or
 *   union, without a `maxAge` of its own (or its type's) gets 0, unless it (or its type) says
 *   `inheritMaxAge`; the policy is the smallest `maxAge` and PRIVATE if any field says so;
 * - what is selected counts, not what resolves: a field under a null parent or an empty list, or
 *   inside a fragment on another concrete type, restricts the policy all the same (Apollo would
 *   skip it), and `@skip`/`@include` with a variable count as included. So the policy never
 *   depends on variables or data, and is at least as restrictive as Apollo's.
 *
 * The hints are read from the schema once, at construction: `schema.graphql` stays the source.
 */
export class CachePolicies {
  private readonly types = new Map<GraphQLCompositeType, Hint>();
  private readonly fields = new Map<GraphQLField<unknown, unknown>, Hint>();
  private readonly documents = new BoundedCache<Computed>(MAX_DOCUMENTS, 200);
  private readonly guardedFields = new Set<GraphQLField<unknown, unknown>>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly defaultMaxAge = 0,
  ) {
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isCompositeType(type) || type.name.startsWith("__")) continue;
      // Apollo reads the definition's directives first, then its extensions'.
      this.types.set(type, hintOf([type.astNode, ...type.extensionASTNodes].flatMap((n) => n?.directives ?? [])));
      if (!isObjectType(type) && !isInterfaceType(type)) continue;
      const typeGuarded = (type.astNode?.directives ?? []).some((d) => d.name.value === "auth");
      for (const field of Object.values(type.getFields())) {
        this.fields.set(field as GraphQLField<unknown, unknown>, hintOf(field.astNode?.directives ?? []));
        if (typeGuarded || field.astNode?.directives?.some((d) => d.name.value === "auth")) this.guardedFields.add(field as GraphQLField<unknown, unknown>);
      }
    }
  }

  /**
   * The policy of the operation `operationName` of `document` (a valid one). `key` names the
   * document (Apollo's queryHash): with it the answer is kept (bounded) and reused.
   */
  of(document: DocumentNode, operationName: string | null | undefined, key?: string): CachePolicy {
    return this.computed(document, operationName, key).policy;
  }

  /**
   * Whether the operation selects a field under `@auth` (on the field or its type): its answer
   * depends on who asks, so it is never shared between callers, whatever its cache hints say.
   */
  selectsGuardedFields(document: DocumentNode, operationName: string | null | undefined, key?: string): boolean {
    return this.computed(document, operationName, key).guarded;
  }

  private computed(document: DocumentNode, operationName: string | null | undefined, key: string | undefined): Computed {
    const cacheKey = key === undefined ? undefined : `${key}:${operationName ?? ""}`;
    const known = cacheKey === undefined ? undefined : this.documents.get(cacheKey);
    if (known) return known;
    const computed = this.compute(document, operationName);
    if (cacheKey !== undefined) this.documents.set(cacheKey, computed);
    return computed;
  }

  private compute(document: DocumentNode, operationName: string | null | undefined): Computed {
    const operation = getOperationAST(document, operationName);
    const root = operation && this.schema.getRootType(operation.operation);
    if (!operation || !root) return { policy: NOT_CACHEABLE, guarded: false };
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const overall: Accumulated & { guarded?: boolean } = {};
    this.walk(root, operation.selectionSet, true, overall, fragments, new Set());
    const policy = overall.maxAge ? { maxAge: overall.maxAge, scope: overall.scope ?? "PUBLIC" } : NOT_CACHEABLE;
    return { policy, guarded: overall.guarded ?? false };
  }

  private walk(
    parent: GraphQLCompositeType,
    selections: SelectionSetNode,
    root: boolean,
    overall: Accumulated & { guarded?: boolean },
    fragments: Map<string, FragmentDefinitionNode>,
    // Fragments already walked on this path (a cycle is invalid; this keeps a bad document finite).
    path: Set<string>,
  ): void {
    for (const selection of selections.selections) {
      if (excluded(selection.directives)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        if (type && isCompositeType(type)) this.walk(type, selection.selectionSet, root, overall, fragments, path);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        const type = fragment && this.schema.getType(fragment.typeCondition.name.value);
        if (!fragment || !type || !isCompositeType(type) || path.has(name)) continue;
        path.add(name);
        this.walk(type, fragment.selectionSet, root, overall, fragments, path);
        path.delete(name);
        continue;
      }
      const name = selection.name.value;
      // __typename restricts nothing (Apollo never sees it: it wraps schema fields only).
      if (name === "__typename") continue;
      if (name.startsWith("__")) {
        // __schema, __type: Apollo would not see them either; introspection is never cached here.
        restrict(overall, { maxAge: 0 });
        continue;
      }
      // On an interface or union the concrete type's field decides at run time: take every one.
      const owners = isObjectType(parent) ? [parent] : this.schema.getPossibleTypes(parent);
      for (const owner of owners) {
        const field = owner.getFields()[name] as GraphQLField<unknown, unknown> | undefined;
        if (!field) continue;
        const target = getNamedType(field.type);
        restrict(overall, this.fieldPolicy(field, root));
        if (this.guardedFields.has(field)) overall.guarded = true;
        if (selection.selectionSet && isCompositeType(target)) this.walk(target, selection.selectionSet, false, overall, fragments, path);
      }
    }
  }

  /** Apollo's per-field rule (plugin/cacheControl willResolveField), for static hints. */
  private fieldPolicy(field: GraphQLField<unknown, unknown>, root: boolean): Accumulated {
    const policy: Accumulated = {};
    let inheritMaxAge = false;
    const target = getNamedType(field.type);
    const composite = isCompositeType(target);
    if (composite) {
      const typeHint = this.types.get(target) ?? {};
      replace(policy, typeHint);
      inheritMaxAge = !!typeHint.inheritMaxAge;
    }
    const fieldHint = this.fields.get(field) ?? {};
    if (fieldHint.inheritMaxAge && policy.maxAge === undefined) {
      inheritMaxAge = true;
      if (fieldHint.scope) policy.scope = fieldHint.scope;
    } else {
      replace(policy, fieldHint);
    }
    if (policy.maxAge === undefined && ((composite && !inheritMaxAge) || root)) restrict(policy, { maxAge: this.defaultMaxAge });
    return policy;
  }
}

function replace(policy: Accumulated, hint: Hint): void {
  if (hint.maxAge !== undefined) policy.maxAge = hint.maxAge;
  if (hint.scope !== undefined) policy.scope = hint.scope;
}

function restrict(policy: Accumulated, hint: Accumulated): void {
  if (hint.maxAge !== undefined && (policy.maxAge === undefined || hint.maxAge < policy.maxAge)) policy.maxAge = hint.maxAge;
  if (hint.scope !== undefined && policy.scope !== "PRIVATE") policy.scope = hint.scope;
}

/** `@skip(if: true)` / `@include(if: false)` written literally; with a variable the field counts. */
function excluded(directives: readonly DirectiveNode[] | undefined): boolean {
  for (const directive of directives ?? []) {
    const condition = directive.arguments?.find((a: ArgumentNode) => a.name.value === "if")?.value;
    if (condition?.kind !== Kind.BOOLEAN) continue;
    if (directive.name.value === "skip" && condition.value) return true;
    if (directive.name.value === "include" && !condition.value) return true;
  }
  return false;
}

/** `@cacheControl(...)` among `directives`, as Apollo reads it (a maxAge next to inheritMaxAge is ignored). */
function hintOf(directives: readonly DirectiveNode[]): Hint {
  const directive = directives.find((d) => d.name.value === "cacheControl");
  if (!directive?.arguments) return {};
  const arg = (name: string) => directive.arguments!.find((a) => a.name.value === name)?.value;
  const scopeValue = arg("scope");
  const scopeName = scopeValue?.kind === Kind.ENUM ? scopeValue.value : undefined;
  const scope = scopeName === "PUBLIC" || scopeName === "PRIVATE" ? scopeName : undefined;
  const inherit = arg("inheritMaxAge");
  if (inherit?.kind === Kind.BOOLEAN && inherit.value) return { inheritMaxAge: true, scope };
  const maxAge = arg("maxAge");
  return { maxAge: maxAge?.kind === Kind.INT ? parseInt(maxAge.value, 10) : undefined, scope };
}
