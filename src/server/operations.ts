import { getOperationAST, specifiedRules, validate, type DocumentNode, type GraphQLError, type GraphQLSchema, type OperationTypeNode } from "graphql";
import { hasRole, type Viewer } from "../auth/roles.ts";
import { AppError } from "../graphql/errors.ts";
import type { OperationLimits } from "../graphql/limits.ts";
import { BoundedCache } from "../lib/bounded-cache.ts";
import type { Metrics } from "./metrics.ts";
import type { Decision, RequestParams } from "./persisted/trusted-documents.ts";

/** The transports that run operations through `Operations` (a label in /metrics). */
export type StreamingTransport = "ws" | "sse";

export interface OperationsDeps {
  schema: GraphQLSchema;
  /** The same operation limits as over HTTP: document limits, cost budget, introspection. */
  limits: OperationLimits;
  metrics: Metrics;
  /** Partner keys and trusted documents, as over HTTP (see TrustedDocuments.decide). */
  trustedDocuments?: (partnerKey: string | undefined, params: RequestParams, isStaff: () => Promise<boolean>, transport: StreamingTransport) => Promise<Decision>;
  /** The APQ store shared with HTTP (hex sha256 -> text); absent when APQ is off. */
  apq?: { get(hash: string): Promise<string | undefined>; set(hash: string, text: string): Promise<void> };
}

/** One operation as a streaming transport receives it (graphql-ws `subscribe` payload, GraphQL over SSE request). */
export interface OperationRequest {
  /** The text; "" (or absent) with an APQ hash or a documentId means "by hash". */
  query?: string | undefined;
  operationName?: string | null | undefined;
  variables?: Record<string, unknown> | null | undefined;
  extensions?: Record<string, unknown> | null | undefined;
  /** GraphQL over HTTP persisted documents: "sha256:<hex>" (SSE only; graphql-ws has no such field). */
  documentId?: unknown;
}

export interface PreparedOperation {
  /** Parsed, validated and within its limits: what graphql-js executes. */
  args: { schema: GraphQLSchema; document: DocumentNode; operationName: string | null | undefined; variableValues: Record<string, unknown> | null | undefined };
  operation: OperationTypeNode | undefined;
  /** Set when the operation runs a partner's manifest (on the partner's budget). */
  partnerId?: string | undefined;
  /** A text sent with its APQ hash: store it (`register`) once the operation has started. */
  toRegister?: { hash: string; text: string } | undefined;
}

/**
 * What the WebSocket and GraphQL over SSE do before an operation runs, in one place: trusted
 * documents (a partner key runs only its manifest), Automatic Persisted Queries (hash-only
 * requests, texts sent with their hash), the operation limits and validation. Documents are
 * parsed and validated once per text and shared by both transports (the same text gives the same
 * DocumentNode, which is what lets the fan-out group identical subscriptions of either transport).
 */
export class Operations {
  // Parsed and validated documents by text: 5,000 clients subscribing with the same document are
  // checked once (the cost budget, which depends on each subscribe's variables and viewer, is
  // checked every time). Bounded in entries and text size; a miss only costs the check.
  private readonly documents = new BoundedCache<DocumentNode>(1_000, 64 * 1024);

  constructor(private readonly deps: OperationsDeps) {}

  /**
   * Decides, resolves and checks one request; resolves with what to execute, or with the errors
   * to answer with (contract codes: UNAUTHENTICATED for an unknown partner key,
   * PERSISTED_QUERY_NOT_ALLOWED / _NOT_FOUND, QUERY_TOO_COMPLEX, BAD_USER_INPUT). Rejects only
   * when a dependency fails (the APQ store, the trusted-documents check).
   */
  async prepare(request: OperationRequest, caller: { partnerKey: string | undefined; viewer: Viewer | null }, transport: StreamingTransport): Promise<PreparedOperation | { errors: GraphQLError[] }> {
    const { viewer } = caller;
    const decision = this.deps.trustedDocuments
      ? await this.deps.trustedDocuments(caller.partnerKey, request, async () => !!viewer && hasRole(viewer.role, "STAFF"), transport)
      : ({ kind: "pass" } as const);
    if (decision.kind === "refuse") return { errors: [decision.error] };
    const partnerId = decision.kind === "use" ? decision.partnerId : undefined;
    const budget = { role: viewer?.role, partner: partnerId !== undefined };
    // The manifest's text runs, whatever else came along.
    if (decision.kind === "use") return this.check({ ...request, query: decision.entry.text }, budget, { partnerId });
    let text = request.query ?? "";
    let toRegister: PreparedOperation["toRegister"];
    // APQ as over HTTP (graphql-ws requires a string query: hash-only requests send "").
    const hash = (request.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
    if (typeof hash === "string" && this.deps.apq) {
      if (text !== "") {
        toRegister = { hash, text }; // decide() has checked the hash against the text
      } else {
        const stored = await this.deps.apq.get(hash);
        if (stored === undefined) return { errors: [new AppError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")] };
        text = stored;
      }
    }
    if (text === "") {
      return { errors: [new AppError("BAD_USER_INPUT", this.deps.apq ? "Send the query text or its persisted query hash" : "Persisted queries are off: send the query text")] };
    }
    return this.check({ ...request, query: text }, budget, { toRegister });
  }

  /** Stores a text sent with its APQ hash (after its operation has parsed, validated and started). */
  register(entry: { hash: string; text: string }): void {
    void this.deps.apq?.set(entry.hash, entry.text);
  }

  /**
   * Parses and validates here rather than in the transport library (graphql-ws closes the whole
   * socket, 4500, on a syntax error): a bad document fails its own operation with BAD_USER_INPUT,
   * as over HTTP. The operation limits come first, so a hostile document gets one QUERY_TOO_COMPLEX and no more.
   */
  private check(
    request: OperationRequest & { query: string },
    budget: { role: Viewer["role"] | undefined; partner: boolean },
    extra: Pick<PreparedOperation, "partnerId" | "toRegister">,
  ): PreparedOperation | { errors: GraphQLError[] } {
    const { schema, limits } = this.deps;
    let document = this.documents.get(request.query);
    this.deps.metrics.wsDocuments.inc({ result: document ? "hit" : "miss" });
    if (!document) {
      const checked = limits.checkDocument(request.query);
      if ("error" in checked) {
        const { error } = checked;
        return { errors: [error.extensions.code ? error : new AppError("BAD_USER_INPUT", error.message, { reason: "GRAPHQL_PARSE_FAILED" })] };
      }
      const invalid = validate(schema, checked.document, [...specifiedRules, ...limits.validationRules]);
      if (invalid.length > 0) return { errors: invalid.map((e) => new AppError("BAD_USER_INPUT", e.message, { reason: "GRAPHQL_VALIDATION_FAILED" })) };
      document = checked.document;
      this.documents.set(request.query, document);
    }
    const tooCostly = limits.checkCost(document, request.operationName, request.variables, budget);
    if (tooCostly) return { errors: [tooCostly] };
    return {
      args: { schema, document, operationName: request.operationName, variableValues: request.variables },
      operation: getOperationAST(document, request.operationName)?.operation,
      ...extra,
    };
  }
}
