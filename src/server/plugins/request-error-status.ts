import type { ApolloServerPlugin, BaseContext } from "@apollo/server";
import Negotiator from "negotiator";

/**
 * Apollo's codes for a GraphQL request error: a well-formed HTTP request whose document does not
 * parse, does not validate, names no operation in it, or whose variables do not coerce. Not
 * BAD_REQUEST (a malformed HTTP request: no query, variables that are not a map), which stays 400.
 */
const REQUEST_ERROR_CODES = new Set(["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "OPERATION_RESOLUTION_FAILURE", "BAD_USER_INPUT"]);

/** The response types Apollo negotiates from, in its order of preference (runHttpQuery). */
const RESPONSE_TYPES = ["application/json; charset=utf-8", "application/graphql-response+json; charset=utf-8", "application/json; callbackSpec=1.0; charset=utf-8"];

/**
 * GraphQL over HTTP: a client that reads `application/json` (the legacy type; also what a request
 * with no Accept header gets) may not tell a GraphQL error from an HTTP one, so a request error
 * answered in it SHOULD be 200; with `application/graphql-response+json` it stays Apollo's 400.
 * Apollo 5 answers 400 either way (`status400ForVariableCoercionErrors: false` is deprecated and
 * covers only variables). Only a 400 whose every error is a request error changes; the body
 * and its codes (formatError: BAD_USER_INPUT with `reason`) are untouched.
 */
export function requestErrorStatusPlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response, errors }) {
          if (response.http.status !== 400 || !errors?.length) return;
          if (!errors.every((error) => REQUEST_ERROR_CODES.has(String(error.extensions.code)))) return;
          if (respondsWithLegacyJson(request.http?.headers.get("accept"))) response.http.status = 200;
        },
      };
    },
  };
}

/** The media type Apollo will choose for this Accept header is application/json (as Apollo negotiates it). */
function respondsWithLegacyJson(accept: string | undefined): boolean {
  if (!accept) return true;
  const chosen = new Negotiator({ headers: { accept } }).mediaType(RESPONSE_TYPES);
  return chosen !== undefined && chosen.startsWith("application/json");
}
