import "reflect-metadata";
import { MapperKind, mapSchema, printSchemaWithDirectives } from "@graphql-tools/utils";
import { GraphQLEnumType, GraphQLInterfaceType, GraphQLSchema, lexicographicSortSchema, type GraphQLFieldResolver } from "graphql";
import { buildSchema } from "type-graphql";
import { transform } from "../events/iterators.ts";
import { applyAuthDirective, authDirective, type OwnerResolvers } from "./auth-directive.ts";
import { CacheControlScope, cacheControlDirective } from "./cache-control.ts";
import type { Context } from "./context.ts";
import { DateTimeScalar } from "./scalars.ts";
import { resolveNodeType } from "./types.ts";

/**
 * What the domain registers with the schema (modules/index.ts `schemaParts`, handed over by the
 * composition root: this layer imports no module).
 */
export interface SchemaParts {
  /** The type-graphql resolver classes; at least one. */
  resolvers: readonly Function[];
  /** How `@auth(requires: OWNER)` finds the owner of a parent object, by type name. */
  owners: OwnerResolvers;
  /**
   * Hot field resolvers installed as plain functions over the type-graphql ones of the same
   * fields, by type then field. Naming a field the schema does not have fails the build.
   */
  plainResolvers: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/**
 * Builds the executable schema: type-graphql classes, the `@auth` directive definition, the one
 * transformer that enforces it, and fresh loaders for every subscription event.
 */
export async function createSchema(parts: SchemaParts): Promise<GraphQLSchema> {
  const built = await buildSchema({
    resolvers: [...parts.resolvers] as [Function, ...Function[]],
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validate: false,
    // Every subscription declares its own `subscribe` over the typed EventBus (context.events);
    // type-graphql insists on a PubSub anyway, so give it one that says so if ever used.
    pubSub: {
      publish: () => {
        throw new Error("publish through context.events");
      },
      subscribe: () => {
        throw new Error("subscribe through context.events");
      },
    },
  });
  const role = built.getType("Role");
  if (!(role instanceof GraphQLEnumType)) throw new Error("schema has no Role enum");
  const config = built.toConfig();
  const withDirective = new GraphQLSchema({
    ...config,
    types: [...config.types, CacheControlScope],
    directives: [...config.directives, authDirective(role), cacheControlDirective],
  });
  return renewLoadersPerEvent(applyAuthDirective(leanResolvers(withDirective, parts.plainResolvers), parts.owners));
}

/**
 * Takes type-graphql's wrappers off where they only cost:
 * - the modules' plain field resolvers (SchemaParts.plainResolvers) replace the wrapped
 *   resolvers of the same fields (`@auth` is applied after, around them, as around any resolver);
 * - type-graphql wraps every `resolveType` in an async function; graphql-jit
 *   (server/compiled-executor.ts) takes only a type or a type name, not a promise of one, and
 *   graphql-js spends a tick on each. Node's own function is synchronous: it is used as declared.
 */
function leanResolvers(schema: GraphQLSchema, plainResolvers: SchemaParts["plainResolvers"]): GraphQLSchema {
  const unused = new Set(Object.entries(plainResolvers).flatMap(([type, fields]) => Object.keys(fields).map((field) => `${type}.${field}`)));
  const lean = mapSchema(schema, {
    [MapperKind.INTERFACE_TYPE]: (type) => (type.name === "Node" ? new GraphQLInterfaceType({ ...type.toConfig(), resolveType: resolveNodeType }) : type),
    [MapperKind.OBJECT_FIELD]: (fieldConfig, fieldName, typeName) => {
      const resolve = plainResolvers[typeName]?.[fieldName] as GraphQLFieldResolver<unknown, Context> | undefined;
      if (!resolve) return fieldConfig;
      if (!fieldConfig.resolve) throw new Error(`${typeName}.${fieldName} has no resolver to replace`);
      unused.delete(`${typeName}.${fieldName}`);
      return { ...fieldConfig, resolve };
    },
  });
  // A renamed field would otherwise quietly lose its plain resolver.
  if (unused.size > 0) throw new Error(`plainResolvers name fields the schema does not have: ${[...unused].join(", ")}`);
  return lean;
}

/**
 * graphql-ws builds one context per subscription; each event gets fresh loaders all the same,
 * shared with the other subscribers of that event (Context.eventLoaders).
 */
function renewLoadersPerEvent(schema: GraphQLSchema): GraphQLSchema {
  const subscriptionType = schema.getSubscriptionType()?.name;
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig, _name, typeName) => {
      const subscribe = fieldConfig.subscribe;
      if (typeName !== subscriptionType || !subscribe) return fieldConfig;
      return {
        ...fieldConfig,
        subscribe: async (source, args, context: Context, info) => {
          const iterable = (await subscribe(source, args, context, info)) as AsyncIterable<unknown>;
          return renewing(iterable, context);
        },
      };
    },
  });
}

function renewing(iterable: AsyncIterable<unknown>, context: Context): AsyncIterableIterator<unknown> {
  return transform(iterable, (value) => {
    context.loaders = context.eventLoaders(value);
    return value;
  });
}

/** The reviewed contract: sorted, with directive definitions and usages printed. */
export function printContract(schema: GraphQLSchema): string {
  return `${printSchemaWithDirectives(lexicographicSortSchema(schema))}\n`;
}
