import { GraphQLError, type GraphQLFormattedError } from "graphql";

/** The error codes of the API contract (API.md). Every error leaves with one of them. */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "INSUFFICIENT_STOCK"
  | "CONFLICT"
  | "RATE_LIMITED"
  | "QUERY_TOO_COMPLEX"
  | "PERSISTED_QUERY_NOT_FOUND"
  | "PERSISTED_QUERY_NOT_ALLOWED"
  | "CURSOR_EXPIRED"
  | "INTERNAL_SERVER_ERROR";

const CONTRACT_CODES = new Set<string>([
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "INSUFFICIENT_STOCK",
  "CONFLICT",
  "RATE_LIMITED",
  "QUERY_TOO_COMPLEX",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_ALLOWED",
  "CURSOR_EXPIRED",
]);

/** Apollo's and graphql-js's own codes for requests the client got wrong. */
const CLIENT_CODES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "OPERATION_RESOLUTION_FAILURE",
  // APQ=false and a client sent extensions.persistedQuery.
  "PERSISTED_QUERY_NOT_SUPPORTED",
]);

const SUGGESTION = /\s*Did you mean .+\?$/;

/** An expected failure with a contract code; its message is shown to the client as is. */
export class AppError extends GraphQLError {
  constructor(code: Exclude<ErrorCode, "INTERNAL_SERVER_ERROR">, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
  }
}

export const unauthenticated = (message = "Sign in first: missing, invalid or expired access token") =>
  new AppError("UNAUTHENTICATED", message, { http: { status: 401 } });
export const forbidden = (message = "Not allowed") => new AppError("FORBIDDEN", message);
export const badInput = (message: string, argument?: string) =>
  new AppError("BAD_USER_INPUT", message, argument ? { argument } : {});
export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);
export const conflict = (message: string) => new AppError("CONFLICT", message);

/**
 * Shapes every error that leaves the server, over HTTP and WebSocket alike: contract codes pass,
 * client mistakes become BAD_USER_INPUT, and anything unexpected is masked as INTERNAL_SERVER_ERROR
 * (no stack, no SQL) after being logged with the request id by `onUnexpected`.
 */
export function formatError(
  formatted: GraphQLFormattedError,
  original: unknown,
  onUnexpected: (error: unknown) => string | undefined,
  options: { hideSuggestions?: boolean } = {},
): GraphQLFormattedError {
  const code = String(formatted.extensions?.code ?? "");
  const { locations, path } = formatted;
  if (options.hideSuggestions && SUGGESTION.test(formatted.message)) {
    // "Did you mean …?" names fields and types the caller did not know of (production).
    formatted = { ...formatted, message: formatted.message.replace(SUGGESTION, "") };
  }
  if (CONTRACT_CODES.has(code)) {
    const { stacktrace: _drop, http: _http, ...extensions } = formatted.extensions ?? {};
    return { message: formatted.message, locations, path, extensions: { ...extensions, code } };
  }
  if (CLIENT_CODES.has(code)) {
    return { message: formatted.message, locations, path, extensions: { code: "BAD_USER_INPUT", reason: code } };
  }
  // An error made by internalError has been logged with its id already; it keeps that id.
  const requestId = onUnexpected(unwrap(original)) ?? (typeof formatted.extensions?.requestId === "string" ? formatted.extensions.requestId : undefined);
  return {
    message: "Internal server error",
    locations,
    path,
    extensions: { code: "INTERNAL_SERVER_ERROR", ...(requestId ? { requestId } : {}) },
  };
}

/**
 * An unexpected failure outside any operation (building a request's context), already logged
 * with `requestId`: masked as INTERNAL_SERVER_ERROR (HTTP 500) and carrying that id to the client.
 */
export function internalError(original: unknown, requestId: string): GraphQLError {
  return new GraphQLError("Internal server error", {
    originalError: original instanceof Error ? original : new Error(String(original)),
    extensions: { code: "INTERNAL_SERVER_ERROR", requestId, http: { status: 500 } },
  });
}

/** Whether `error` is masked as INTERNAL_SERVER_ERROR by formatError (its code is neither the contract's nor a client mistake's). */
export function isUnexpected(error: unknown): boolean {
  const code = error instanceof GraphQLError ? String(error.extensions.code ?? "") : "";
  return !CONTRACT_CODES.has(code) && !CLIENT_CODES.has(code);
}

/** The error a resolver threw, out of graphql-js's wrapping (the error itself when unwrapped). */
export function unwrap(error: unknown): unknown {
  return error instanceof GraphQLError && error.originalError ? error.originalError : error;
}
