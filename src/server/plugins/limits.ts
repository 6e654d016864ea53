import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../../graphql/context.ts";
import type { OperationLimits } from "../../graphql/limits.ts";

/**
 * The cost budget over HTTP (the WebSocket checks the same in its onSubscribe). Checked once the
 * operation is known and before it executes, with the request's variables, on the caller's budget
 * (staff and partners have larger ones). The document-only limits ran before Apollo (server/http.ts).
 */
export function limitsPlugin(limits: OperationLimits): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operationName, request, contextValue }) {
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
