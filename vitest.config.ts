import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Two projects, both run by `npm test` (`vitest run`): "unit" (test/unit/**: no database, no
// Redis, no global setup) and "integration" (the rest, on the migrated, seeded template database
// that test/harness/global-setup.ts builds). `npx vitest run --project unit` runs the fast half alone.
const UNIT = ["test/unit/**/*.test.ts"];

export default defineConfig({
  resolve: {
    alias: {
      // type-graphql is CommonJS: make ESM code and it share one copy of graphql.
      graphql: "graphql/index.js",
      // Apollo's integration testsuite is written for jest; only it imports @jest/globals.
      "@jest/globals": fileURLToPath(new URL("./test/harness/jest-globals.ts", import.meta.url)),
    },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Processed by vitest (not loaded by Node) so that the alias above reaches its imports.
    server: { deps: { inline: ["@apollo/server-integration-testsuite"] } },
    // Fail, never skip: a test that needs PostgreSQL or Redis fails when they are missing.
    allowOnly: false,
    passWithNoTests: false,
    projects: [
      // Pure functions: one worker process runs every file (no fork and import per file).
      { extends: true, test: { name: "unit", include: UNIT, isolate: false } },
      {
        extends: true,
        test: { name: "integration", include: ["test/**/*.test.ts"], exclude: UNIT, globalSetup: ["test/harness/global-setup.ts"] },
      },
    ],
  },
});
