import type { ApolloServerPlugin } from "@apollo/server";
import type { CachePolicies } from "../../graphql/cache-policy.ts";

const UNCACHEABLE = "no-store";

/**
 * The `cache-control` header from the document's policy (graphql/cache-policy.ts: computed once
 * per document from the schema's `@cacheControl` hints, never per resolved field), in the format
 * Apollo's cache-control plugin writes: `max-age=<s>, public|private`, or `no-store` when the
 * policy allows no caching, the operation never resolved (parse or validation errors) or the
 * response has errors. Replaces ApolloServerPluginCacheControl, which app.ts disables.
 */
export function cachePolicyPlugin(policies: CachePolicies): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operationName, queryHash, overallCachePolicy }) {
          overallCachePolicy.restrict(policies.of(document, operationName, queryHash));
        },
        // Plugins listed before this one (cache-scope) may restrict the policy further here.
        async willSendResponse({ overallCachePolicy, response }) {
          const policy = overallCachePolicy.policyIfCacheable();
          const clean = response.body.kind === "single" && !response.body.singleResult.errors;
          response.http.headers.set("cache-control", policy && clean ? `max-age=${policy.maxAge}, ${policy.scope.toLowerCase()}` : UNCACHEABLE);
        },
      };
    },
  };
}
