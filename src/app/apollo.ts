import { ApolloServer } from "@apollo/server";
import type { KeyValueCache } from "@apollo/utils.keyvaluecache";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import type { GraphQLSchema } from "graphql";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { CachePolicies } from "../graphql/cache-policy.ts";
import type { Context } from "../graphql/context.ts";
import type { OperationLimits } from "../graphql/limits.ts";
import type { Services } from "../modules/index.ts";
import { CompiledExecutor } from "../server/compiled-executor.ts";
import type { Metrics } from "../server/metrics.ts";
import { cachePolicyPlugin } from "../server/plugins/cache-policy.ts";
import { cacheScopePlugin } from "../server/plugins/cache-scope.ts";
import { limitsPlugin } from "../server/plugins/limits.ts";
import { operationMetricsPlugin } from "../server/plugins/operation-metrics.ts";
import { requestErrorStatusPlugin } from "../server/plugins/request-error-status.ts";
import { requestReportPlugin } from "../server/plugins/request-report.ts";
import { responseCachePlugin } from "../server/plugins/response-cache.ts";
import type { ResponseCache } from "../server/response-cache.ts";
import { stringifyResult } from "../server/raw-data.ts";
import type { ErrorReporting } from "./errors.ts";

export interface ApolloParts {
  schema: GraphQLSchema;
  limits: OperationLimits;
  cachePolicies: CachePolicies;
  services: Services;
  metrics: Metrics;
  errors: ErrorReporting;
  apqCache: KeyValueCache<string> | undefined;
  responseCache: ResponseCache | undefined;
}

/** Apollo Server for /graphql, started; on the jit executor (GRAPHQL_EXECUTOR) unless set to graphql-js. */
export async function startApollo(config: Config, log: Logger, parts: ApolloParts): Promise<ApolloServer<Context>> {
  const { schema, limits, cachePolicies, metrics, responseCache, apqCache } = parts;
  const compiled = config.graphqlExecutor.kind === "jit" ? compiledExecutor(config, log, parts) : undefined;
  const apollo = new ApolloServer<Context>({
    ...(compiled ? { gateway: compiled.gateway() } : { schema }),
    formatError: parts.errors.formatHttp,
    // Introspection is refused by limits.validationRules, the same rule as on the WebSocket.
    introspection: true,
    validationRules: limits.validationRules,
    // Also for texts that reach Apollo without passing server/http.ts (APQ entries stored earlier).
    parseOptions: { maxTokens: config.operationLimits.maxTokens },
    // main.ts owns signals; the lifecycle drains HTTP and WebSocket before Apollo stops.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    persistedQueries: apqCache ? { cache: apqCache, ttl: config.persistedQueries.apqTtlSeconds } : false,
    // Compact JSON: Apollo's default indents every response (a third more bytes on a catalog page).
    stringifyResult,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      requestReportPlugin(parts.errors.reportUnexpected, metrics),
      operationMetricsPlugin(metrics),
      limitsPlugin(limits),
      cacheScopePlugin(),
      requestErrorStatusPlugin(),
      // Hints live in the schema (@cacheControl on the public catalog); everything else is no-store.
      // One policy per document instead of Apollo's plugin, which hooks every resolved field.
      ApolloServerPluginCacheControlDisabled(),
      cachePolicyPlugin(cachePolicies),
      ...(responseCache ? [responseCachePlugin(responseCache, cachePolicies)] : []),
    ],
  });
  await apollo.start();
  return apollo;
}

/**
 * Apollo 5 takes an executor only from a gateway: it still parses, validates, runs the plugins
 * (per-field hooks included) and formats errors; the gateway only executes.
 */
function compiledExecutor(config: Config, log: Logger, { schema, services, metrics }: ApolloParts): CompiledExecutor {
  return new CompiledExecutor({
    schema,
    maxDocuments: config.graphqlExecutor.maxCompiledDocuments,
    // Catalog queries of plain fields: their whole answer from PostgreSQL (CATALOG_READS=direct).
    direct: (run) =>
      run.operation
        ? services.catalog.answerDirectly((run.contextValue as Context).viewer, { schema, operation: run.operation, fragments: run.fragments, variables: run.variables })
        : Promise.resolve(undefined),
    onDirectFailure: (error, run) =>
      log.warn({ err: error, requestId: (run.contextValue as Context).requestId }, "a catalog query could not be answered directly: the executor answers it"),
    onExecute: (path) => metrics.graphqlExecutions.inc({ executor: path === "jit" ? "jit" : path === "direct" ? "postgres" : "graphql-js", path }),
    onCompiled: (documents) => metrics.compiledDocuments.set(documents),
    onCompileFailure: (error) => log.warn({ err: error }, "graphql-jit could not compile a document: it runs on graphql-js"),
  });
}
