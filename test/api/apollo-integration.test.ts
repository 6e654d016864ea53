// Apollo's own integration testsuite (the one Apollo's integrations must pass), run against our
// hand-written node:http integration: graphqlHandler in src/server/http.ts. The suite builds its
// own ApolloServer (its schemas, plugins, options) for each case and asks us for a URL that
// serves it through that handler. It is written for jest: vitest.config.ts aliases
// @jest/globals to test/harness/jest-globals.ts, which applies the exclusions below.
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, type ApolloServerOptions, type BaseContext, type ContextThunk } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { defineIntegrationTestSuite, type CreateServerForIntegrationTests } from "@apollo/server-integration-testsuite";
import { versionInfo } from "graphql";
import { expect, it } from "vitest";
import { graphqlHandler } from "../../src/server/http.ts";
import { setExclusions, unusedExclusions, type Exclusion } from "../harness/jest-globals.ts";

// Typed with our @apollo/server: the suite's types come from its own copy (it pins 5.5.0).
async function createServer(config: ApolloServerOptions<BaseContext>, options?: { context?: ContextThunk }) {
  const httpServer = createHttpServer();
  const server = new ApolloServer({ ...config, plugins: [...(config.plugins ?? []), ApolloServerPluginDrainHttpServer({ httpServer })] });
  // As in src/app.ts: Apollo has started before the port opens (so serverIsStartedInBackground
  // does not apply), and a failing start rejects here, as the suite expects then.
  await server.start();
  const handle = graphqlHandler(server, options?.context ?? (async () => ({})));
  httpServer.on("request", (req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) return res.destroy();
      res.writeHead(500, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } }] }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(0, "127.0.0.1", () => resolve());
  });
  // The drain plugin closes the listener when the suite stops the server.
  return { server, url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/` };
}

const SUITE = "integration tests";
// The suite runs these only with INCREMENTAL_DELIVERY_TESTS_ENABLED, which needs graphql 17
// (@defer/@stream execution). We are on graphql 16: Apollo 5 and type-graphql 2 require it.
const needsGraphQL17: Exclusion = {
  notRun: "needs graphql 17, we are on 16",
  check: () => expect(versionInfo.major, "graphql 17 is here: enable these cases").toBe(16),
};

/**
 * Every case of the suite passes on graphqlHandler except these; each is counted as a test of
 * its own (see test/harness/jest-globals.ts): a `differs` case must still fail, a `notRun`
 * case checks that its reason still holds.
 */
const EXCLUSIONS: Record<string, Exclusion> = {
  [`${SUITE} > apolloServerTests.ts > lockstep versioning of @apollo/server and @apollo/server-integration-testsuite`]: {
    // The check is `instanceof` against the suite's own nested copy; every case runs on ours.
    differs: "we run @apollo/server 5.5.1; the suite's newest release (5.5.0) pins and nests 5.5.0",
  },
  [`${SUITE} > apolloServerTests.ts > lifecycle > for Apollo usage reporting > traces > includes all fields with defer legacy`]: needsGraphQL17,
  [`${SUITE} > apolloServerTests.ts > lifecycle > for Apollo usage reporting > traces > includes all fields with defer modern`]: needsGraphQL17,
  [`${SUITE} > httpServerTests.ts > incremental delivery > tests that require graphql@17`]: needsGraphQL17,
};

setExclusions(EXCLUSIONS);
// noIncrementalDelivery stays false: graphqlHandler streams Apollo's chunked bodies.
defineIntegrationTestSuite(createServer as unknown as CreateServerForIntegrationTests);

it("every listed exclusion names a case of the suite", () => {
  expect(unusedExclusions()).toEqual([]);
});
