import type { ApolloServerPlugin } from "@apollo/server";
import type { Metrics } from "../metrics.ts";

/** Counts operations by type (query, mutation, subscription) for /metrics. */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          metrics.operations.inc({ type: operation?.operation ?? "unknown", transport: "http" });
        },
      };
    },
  };
}
