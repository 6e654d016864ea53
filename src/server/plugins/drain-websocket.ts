import type { ApolloServerPlugin } from "@apollo/server";

/** Closes the graphql-ws server when Apollo drains, so shutdown waits for neither transport. */
export function drainWebSocketPlugin(cleanup: { dispose(): void | Promise<void> }): ApolloServerPlugin {
  return {
    async serverWillStart() {
      return {
        async drainServer() {
          await cleanup.dispose();
        },
      };
    },
  };
}
