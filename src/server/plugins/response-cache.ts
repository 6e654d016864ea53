import { HeaderMap, type ApolloServerPlugin } from "@apollo/server";
import { hasRole } from "../../auth/roles.ts";
import type { CachePolicies } from "../../graphql/cache-policy.ts";
import type { Context } from "../../graphql/context.ts";
import { dataText, rawData } from "../raw-data.ts";
import type { ResponseCache } from "../response-cache.ts";

/**
 * The shared response cache inside Apollo (after parse, validation and the operation limits; the
 * HTTP fast path in server/response-cache-http.ts answers anonymous hits before all that).
 *
 * Cacheable: a query whose document's policy (graphql/cache-policy.ts) is PUBLIC with a max-age,
 * that is: every root field is a public catalog field and no private field is selected (nor any
 * field under `@auth`, whatever its hint), answered without errors. STAFF and ADMIN never use it (they see drafts); customers share anonymous
 * callers' entries (they see exactly that); partner-key requests share among themselves.
 */
export function responseCachePlugin(cache: ResponseCache, policies: CachePolicies): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      let pending: { key: string; position: number; maxAge: number } | undefined;
      return {
        async responseForOperation({ operation, document, operationName, queryHash, request, contextValue }) {
          // With a gateway (the jit executor) Apollo gets here without an operation too: not cacheable.
          if (operation?.operation !== "query" || !queryHash) return null;
          const policy = policies.of(document, operationName, queryHash);
          // A field under @auth without a PRIVATE hint would still differ between callers: not shared.
          if (policy.maxAge <= 0 || policy.scope !== "PUBLIC" || policies.selectsGuardedFields(document, operationName, queryHash)) {
            cache.bypass("not_public");
            return null;
          }
          // From now on the fast path looks this document up before Apollo.
          cache.noteCacheable(queryHash, operationName);
          if (contextValue.viewer && hasRole(contextValue.viewer.role, "STAFF")) {
            cache.bypass("staff");
            return null;
          }
          const key = cache.key(queryHash, request.operationName, request.variables, contextValue.partnerId !== undefined ? "partner" : "public");
          // Before anything of the operation is read: what it stores is at least as fresh as this.
          const position = cache.position();
          const hit = cache.wasMissedBefore(contextValue, key) ? undefined : await cache.get(key, "graphql");
          if (hit) {
            return {
              http: { status: undefined, headers: new HeaderMap([["age", String(hit.age)]]) },
              body: { kind: "single", singleResult: { data: rawData(hit.data) } },
            };
          }
          pending = { key, position, maxAge: policy.maxAge };
          return null;
        },
        async willSendResponse({ response }) {
          if (!pending) return;
          const { key, position, maxAge } = pending;
          pending = undefined;
          if (response.body.kind !== "single") return;
          const { errors, data, extensions } = response.body.singleResult;
          // Only `data` is kept: a result with anything else is answered, not stored.
          if (errors || !data || (extensions && Object.keys(extensions).length > 0)) {
            cache.bypass("errors");
            return;
          }
          cache.set(key, dataText(data), maxAge, position);
        },
      };
    },
  };
}
