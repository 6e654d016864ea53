import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../../graphql/context.ts";

/** What every /graphql response varies by (the response cache's fast path sends the same). */
export const VARY = "accept, authorization, x-partner-key";

/**
 * Shared caches may keep only what anyone would get: a response to a signed-in caller is at most
 * `private` (staff see drafts, a customer their own data), whatever the schema's hints say, and
 * every response varies by the credentials that change it.
 */
export function cacheScopePlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        // Listed before the cache-policy plugin, whose willSendResponse writes the header.
        async willSendResponse({ contextValue, overallCachePolicy, response }) {
          if (contextValue.viewer) overallCachePolicy.restrict({ scope: "PRIVATE" });
          response.http.headers.set("vary", VARY);
        },
      };
    },
  };
}
