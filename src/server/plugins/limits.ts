import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../../graphql/context.ts";
import type { OperationLimits } from "../../graphql/limits.ts";

/**
 * The operation limits over HTTP that need Apollo (the WebSocket checks the same in its
 * onSubscribe; server/http.ts checks a document's own limits before Apollo parses a text sent with
 * the request). Once the operation is known and before it executes: the document's limits again
 * for a text taken from the APQ store (the limits may have been lowered since it was stored), then
 * the cost with the request's variables, on the caller's budget (staff and partners have larger ones).
 */
export function limitsPlugin(limits: OperationLimits): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operationName, request, source, contextValue }) {
          const stored = typeof request.query !== "string" || request.query === "" ? limits.checkText(source) : undefined;
          if (stored) throw stored;
          const refused = limits.checkCost(document, operationName, request.variables, {
            role: contextValue.viewer?.role,
            partner: contextValue.partnerId !== undefined,
          });
          if (refused) throw refused;
        },
      };
    },
  };
}
