import { defineConfig } from "vitest/config";

export default defineConfig({
  // type-graphql is CommonJS: make ESM code and it share one copy of graphql.
  resolve: { alias: { graphql: "graphql/index.js" } },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/harness/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Fail, never skip: a test that needs PostgreSQL or Redis fails when they are missing.
    allowOnly: false,
    passWithNoTests: false,
  },
});
