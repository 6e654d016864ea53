import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import {
  GraphQLError,
  Lexer,
  NoSchemaIntrospectionCustomRule,
  Source,
  TokenKind,
  parse,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { fieldExtensionsEstimator, getComplexity, simpleEstimator, type ComplexityEstimator } from "graphql-query-complexity";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { AppError } from "./errors.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./pagination.ts";
import { hasRole, type RoleName } from "../auth/roles.ts";

/**
 * What one operation may ask for, checked before anything executes, over HTTP and WebSocket alike.
 * Every refusal is QUERY_TOO_COMPLEX with `extensions.limit` (which rule), `max` and `actual`.
 */
export interface OperationLimitsConfig {
  /** Deepest selection nesting (MAX_DEPTH, default 10; introspection's own nesting is not counted). */
  maxDepth: number;
  /** Aliased fields in one operation, fragments included (MAX_ALIASES, default 15). */
  maxAliases: number;
  /** Lexical tokens in one document (MAX_TOKENS, default 2,000); the parser stops at the limit. */
  maxTokens: number;
  /** Directives in one operation (MAX_DIRECTIVES, default 50). */
  maxDirectives: number;
  /** Cost budget of one operation for anonymous callers and customers (COST_LIMIT, default 10,000). */
  costLimit: number;
  /** Budget for staff and admins (COST_LIMIT_STAFF, default 50,000). */
  costLimitStaff: number;
  /** Budget for partner-key requests, which run only their reviewed manifest (COST_LIMIT_PARTNER, default 50,000). */
  costLimitPartner: number;
  /** Allow __schema/__type queries (INTROSPECTION; default on, off when NODE_ENV=production). */
  introspection: boolean;
}

export type LimitName = "depth" | "aliases" | "tokens" | "directives" | "cost";

export const tooComplex = (limit: LimitName, max: number, actual: number, message: string) =>
  new AppError("QUERY_TOO_COMPLEX", message, { limit, max, actual, http: { status: 400 } });

/** Who runs the operation, as far as its budget is concerned. */
export interface Caller {
  role: RoleName | undefined;
  partner: boolean;
}

/** The shape the armor rules share: a factory of options returning a validation rule. */
type ArmorRule = (options: {
  n: number;
  propagateOnRejection: boolean;
  onReject: ((context: ValidationContext | null, error: GraphQLError) => void)[];
}) => ValidationRule;

// armor reports "…limit of N exceeded, found M." through onReject; the numbers are its own.
const FOUND = /limit of (\d+) exceeded, found (\d+)/;

/**
 * Cost: each field costs 1 plus its selections; a connection (a field with `first`) costs its
 * selections once per requested item (`first`, default 20), so `products(first: 100)` pays for a
 * hundred products; a field may declare its own cost in the schema (type-graphql's `complexity`,
 * e.g. the mutations that hash a password).
 */
const connectionEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (!field.args.some((a) => a.name === "first")) return undefined;
  const first = typeof args.first === "number" ? Math.min(Math.max(Math.trunc(args.first), 1), MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  return 1 + childComplexity * first;
};
const ESTIMATORS = [fieldExtensionsEstimator(), connectionEstimator, simpleEstimator({ defaultComplexity: 1 })];

/** Variables' costs remembered per document, least recently used first to go. */
const MAX_COSTS_PER_DOCUMENT = 64;

export class OperationLimits {
  // Texts that passed checkText, so a client repeating its operations is not re-parsed here (the
  // transports parse again anyway; Apollo caches its parsed documents too). Bounded in count and size.
  private readonly passed = new BoundedCache<true>(1_000, 16 * 1024);
  /**
   * Costs by document (weakly: a document Apollo and the transports no longer cache is dropped),
   * then operation and variables; null for an operation whose cost cannot be computed.
   */
  private readonly costs = new WeakMap<DocumentNode, BoundedCache<number | null>>();

  constructor(
    private readonly schema: GraphQLSchema,
    readonly config: OperationLimitsConfig,
  ) {}

  /** Rules that join graphql-js's own validation (both transports): introspection when it is off. */
  get validationRules(): ValidationRule[] {
    return this.config.introspection ? [] : [introspectionDisabledRule];
  }

  /**
   * Parses `text` within the token limit and checks the limits that depend on the document alone.
   * Returns the parsed document, or the one error to answer with (nothing else is reported, so a
   * hostile document costs one short answer). A syntax error is returned as graphql-js's own.
   */
  checkDocument(text: string): { document: DocumentNode } | { error: GraphQLError } {
    let document: DocumentNode;
    try {
      document = parse(text, { maxTokens: this.config.maxTokens });
    } catch (error) {
      if (error instanceof GraphQLError && /Document contains more th\w+ \d+ tokens/.test(error.message)) {
        const actual = countTokens(text);
        return { error: tooComplex("tokens", this.config.maxTokens, actual, `The document has ${actual} tokens; at most ${this.config.maxTokens} are allowed`) };
      }
      if (error instanceof GraphQLError) return { error };
      throw error;
    }
    const refused: GraphQLError[] = [];
    const armor = (limit: LimitName, max: number, rule: ArmorRule): ValidationRule => {
      return rule({
        n: max,
        propagateOnRejection: false,
        onReject: [
          (_ctx: ValidationContext | null, err: GraphQLError) => {
            const actual = Number(FOUND.exec(err.message)?.[2] ?? max + 1);
            refused.push(tooComplex(limit, max, actual, `Operation exceeds the ${limit} limit: ${actual} (at most ${max})`));
          },
        ],
      });
    };
    validate(this.schema, document, [
      armor("depth", this.config.maxDepth, maxDepthRule),
      armor("aliases", this.config.maxAliases, maxAliasesRule),
      armor("directives", this.config.maxDirectives, maxDirectivesRule),
    ]);
    return refused[0] ? { error: refused[0] } : { document };
  }

  /** checkDocument for a transport that parses by itself: the one error to answer with, or undefined. */
  checkText(text: string): GraphQLError | undefined {
    if (this.passed.get(text)) return undefined;
    const checked = this.checkDocument(text);
    // A syntax error is left to the executor, which reports it the way it reports every other.
    if ("error" in checked) return checked.error.extensions.code === "QUERY_TOO_COMPLEX" ? checked.error : undefined;
    this.passed.set(text, true);
    return undefined;
  }

  /**
   * The operation's cost, computed once per document (the transports and Apollo hand the same
   * parsed document for the same text) and variables: a storefront repeats a few operations.
   * Undefined when it cannot be computed (the executor reports what is wrong).
   */
  private costOf(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): number | undefined {
    let costs = this.costs.get(document);
    if (!costs) this.costs.set(document, (costs = new BoundedCache(MAX_COSTS_PER_DOCUMENT, 4_096)));
    const key = `${operationName ?? ""}\u0000${variables ? JSON.stringify(variables) : ""}`;
    const known = costs.get(key);
    if (known !== undefined) return known ?? undefined;
    let cost: number | null;
    try {
      cost = getComplexity({
        schema: this.schema,
        query: document,
        estimators: ESTIMATORS,
        variables: variables ?? {},
        ...(operationName ? { operationName } : {}),
      });
    } catch {
      cost = null;
    }
    costs.set(key, cost);
    return cost ?? undefined;
  }

  budgetFor(caller: Caller): number {
    if (caller.partner) return this.config.costLimitPartner;
    return caller.role && hasRole(caller.role, "STAFF") ? this.config.costLimitStaff : this.config.costLimit;
  }

  /**
   * The operation's cost against the caller's budget, with the request's variables (a `first`
   * passed as a variable counts). Returns the refusal, or undefined when within budget or when the
   * variables do not fit the operation (execution then reports that as the client's mistake).
   */
  checkCost(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined, caller: Caller): GraphQLError | undefined {
    const cost = this.costOf(document, operationName, variables);
    if (cost === undefined) return undefined;
    const max = this.budgetFor(caller);
    if (cost <= max) return undefined;
    return tooComplex("cost", max, cost, `Operation costs ${cost}; the budget is ${max}. Ask for fewer items (first) or split the operation`);
  }
}

function countTokens(text: string): number {
  const lexer = new Lexer(new Source(text));
  let count = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) count += 1;
  } catch {
    // A lexing error past the limit: what was counted so far is still more than the limit.
  }
  return count;
}

/** graphql-js's rule, with a message that says how to turn introspection on. */
const introspectionDisabledRule: ValidationRule = (context) =>
  // The validation context is shared by every rule: only this rule's view of it reports differently.
  NoSchemaIntrospectionCustomRule(
    Object.create(context, {
      reportError: {
        value: (error: GraphQLError) =>
          context.reportError(new GraphQLError(`${error.message} Introspection is off on this server (INTROSPECTION=true turns it on).`, { nodes: error.nodes })),
      },
    }) as ValidationContext,
  );
