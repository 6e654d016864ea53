import type { ApolloServerOptionsWithGateway, BaseContext } from "@apollo/server";
import { execute, GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { rawData } from "./raw-data.ts";

type Gateway = ApolloServerOptionsWithGateway<BaseContext>["gateway"];

/** `GRAPHQL_EXECUTOR`: graphql-jit for HTTP queries and mutations, or graphql-js throughout. */
export type ExecutorKind = "jit" | "graphql-js";

/**
 * Which executor ran an operation: `direct` when the answer came whole from `direct` (no
 * executor ran), `jit`, or why graphql-js ran it when jit was configured: a subscription
 * sent over HTTP, no operation to run (Apollo reports it), a document graphql-jit cannot
 * compile, or variables that do not coerce (graphql-js words those errors as before).
 */
export type ExecutionPath = "direct" | "jit" | "subscription" | "no-operation" | "not-compilable" | "variables";

export interface CompiledExecutorOptions {
  schema: GraphQLSchema;
  /** Documents kept compiled (and documents known not to compile); the least recently used go first. */
  maxDocuments: number;
  /**
   * Answers a query without executing it: the JSON text of its whole `data`, or undefined when
   * the executor must run it (the catalog's direct reads). A failure is reported to
   * `onDirectFailure` and the executor runs the operation (and answers that failure its own way).
   */
  direct?: (run: OperationToRun) => Promise<string | undefined>;
  onDirectFailure?: (error: unknown, run: OperationToRun) => void;
  /** Told the path of every operation (metrics). Must not throw. */
  onExecute?: (path: ExecutionPath) => void;
  /** Told how many documents are kept, after each compile. Must not throw. */
  onCompiled?: (documents: number) => void;
  /** Told why a document did not compile (it then runs on graphql-js). Must not throw. */
  onCompileFailure?: (error: unknown) => void;
}

/** What one operation brings to the executor: Apollo has parsed and validated it. */
export interface OperationToRun {
  document: DocumentNode;
  /** The operation Apollo resolved from `document` and `operationName`; undefined when none. */
  operation: OperationDefinitionNode | undefined;
  operationName: string | undefined;
  /** The document's fragments by name. */
  fragments: Record<string, FragmentDefinitionNode>;
  /** Identifies the text: Apollo's queryHash (sha256 of the text, or the APQ hash it was stored under). */
  queryHash: string;
  variables: Record<string, unknown> | undefined;
  contextValue: unknown;
}

const NOT_COMPILABLE = Symbol("not compilable");

/**
 * Queries and mutations compiled by graphql-jit, once per document text and operation, kept
 * in a bounded LRU. Results equal graphql-js's (test/api/executor.test.ts runs a table of
 * documents through both): the schema's resolvers are the ones called (the `@auth` wrappers,
 * Apollo's per-field plugin hooks), errors leave as graphql-js GraphQLErrors, and whatever jit
 * does not do, or words differently, runs on graphql-js instead (see ExecutionPath).
 */
export class CompiledExecutor {
  private readonly compiled: BoundedCache<CompiledQuery | typeof NOT_COMPILABLE>;

  constructor(private readonly options: CompiledExecutorOptions) {
    // Keys are a sha256 (or an APQ hash, which Apollo has checked) and an operation's index.
    this.compiled = new BoundedCache(options.maxDocuments, 256);
  }

  /** Documents held (compiled, or known not to compile). */
  get size(): number {
    return this.compiled.size;
  }

  async execute(run: OperationToRun): Promise<ExecutionResult> {
    const { operation } = run;
    if (!operation) return this.graphqlJs(run, "no-operation");
    if (operation.operation === "subscription") return this.graphqlJs(run, "subscription");
    if (this.options.direct && operation.operation === "query") {
      let json: string | undefined;
      try {
        json = await this.options.direct(run);
      } catch (error) {
        this.options.onDirectFailure?.(error, run);
      }
      if (json !== undefined) {
        this.options.onExecute?.("direct");
        return { data: rawData(json) };
      }
    }
    const query = this.compile(run, operation);
    if (!query) return this.graphqlJs(run, "not-compilable");
    const result = await query.query(undefined, run.contextValue, run.variables ?? {});
    // Only variables that do not coerce end jit's run without data; no resolver has run.
    if (!("data" in result) || result.data === undefined) return this.graphqlJs(run, "variables");
    this.options.onExecute?.("jit");
    return result.errors?.length ? { data: result.data, errors: result.errors.map(asGraphQLError) } : { data: result.data };
  }

  /** The executor as Apollo Server 5 takes one: a gateway that loads our schema and executes with us. */
  gateway(): Gateway {
    const { schema } = this.options;
    const listeners = new Set<Parameters<Gateway["onSchemaLoadOrUpdate"]>[0]>();
    return {
      onSchemaLoadOrUpdate(callback) {
        listeners.add(callback);
        return () => listeners.delete(callback);
      },
      load: async () => {
        // Apollo takes its schema (validation, plugins) from this call, not from the constructor.
        for (const listener of listeners) listener({ apiSchema: schema, coreSupergraphSdl: "" });
        return {
          executor: (context) =>
            this.execute({
              document: context.document,
              operation: context.operation as OperationDefinitionNode | undefined,
              operationName: context.request.operationName ?? undefined,
              fragments: fragmentsOf(context.document),
              queryHash: context.queryHash,
              variables: context.request.variables,
              contextValue: context.context,
            }),
        };
      },
      stop: async () => listeners.clear(),
    };
  }

  private compile(run: OperationToRun, operation: OperationDefinitionNode): CompiledQuery | undefined {
    // The operation by its place in the document, not its name: a key of bounded length.
    const key = `${run.queryHash}:${run.document.definitions.indexOf(operation)}`;
    const cached = this.compiled.get(key);
    if (cached !== undefined) return cached === NOT_COMPILABLE ? undefined : cached;
    let compiled: CompiledQuery | typeof NOT_COMPILABLE = NOT_COMPILABLE;
    try {
      // jit writes its @skip/@include conditions onto the field nodes it compiles: on a copy, so
      // Apollo's cached document stays as parsed and two operations sharing a fragment stay apart.
      const result = compileQuery(this.options.schema, copyDocument(run.document), run.operationName, {
        // Conditions kept per response path: a fragment spread twice under different @include
        // conditions is included where its own condition holds, as graphql-js does.
        useExperimentalPathBasedSkipInclude: true,
      });
      if (isCompiledQuery(result)) compiled = result;
      else this.options.onCompileFailure?.(result.errors?.[0] ?? result);
    } catch (error) {
      this.options.onCompileFailure?.(error);
    }
    this.compiled.set(key, compiled);
    this.options.onCompiled?.(this.compiled.size);
    return compiled === NOT_COMPILABLE ? undefined : compiled;
  }

  /** What Apollo itself runs without a gateway (graphql 16 has no incremental delivery). */
  private graphqlJs(run: OperationToRun, path: ExecutionPath): Promise<ExecutionResult> {
    this.options.onExecute?.(path);
    return Promise.resolve(
      execute({
        schema: this.options.schema,
        document: run.document,
        contextValue: run.contextValue,
        variableValues: run.variables,
        operationName: run.operationName,
      }),
    );
  }
}

/**
 * jit's errors carry `locations`, not AST nodes, and no `extensions` unless the thrown error had
 * some; Apollo's error formatting reads `extensions.code`. Rebuilt as graphql-js builds a located
 * error: same message, path and locations, the thrown error as `originalError` (its extensions too).
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const original = error.originalError ?? undefined;
  const rebuilt = new GraphQLError(error.message, {
    path: error.path,
    originalError: original,
    ...(error.extensions ? { extensions: error.extensions } : {}),
  });
  if (error.locations) (rebuilt as { locations: GraphQLError["locations"] }).locations = error.locations;
  return rebuilt;
}

/** A deep copy of a document's nodes; `loc` (tokens and source) is shared, never written. */
function copyDocument<T>(node: T): T {
  if (Array.isArray(node)) return node.map(copyDocument) as T;
  if (node === null || typeof node !== "object") return node;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) copy[key] = key === "loc" ? value : copyDocument(value);
  return copy as T;
}

const fragmentsByDocument = new WeakMap<DocumentNode, Record<string, FragmentDefinitionNode>>();

/** A document's fragments by name, once per parsed document (Apollo keeps those cached). */
export function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  let fragments = fragmentsByDocument.get(document);
  if (!fragments) {
    fragments = {};
    for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    fragmentsByDocument.set(document, fragments);
  }
  return fragments;
}
