import type { CodegenConfig } from "@graphql-codegen/cli";

// One preset and one configuration for both outputs, so test documents are typed exactly as the
// client's are.
const presetConfig = {
  // Plain typed results: a Node or server-side client has no component tree to unmask fragments in.
  fragmentMasking: false,
} as const;
const typesConfig = {
  useTypeImports: true,
  // Node ESM (and this repo's tsconfig) need explicit extensions on relative imports.
  importExtension: ".ts",
  enumsAsTypes: true,
  scalars: { DateTime: "string" },
};

/**
 * `npm run codegen`: typed documents for the storefront operations in client/operations/, plus
 * the persisted-documents manifest (`"sha256:<hex>" -> document text`) that partner keys and
 * trusted-documents mode allow; and typed documents for the test operations in test/operations/
 * (no manifest: tests are not trusted documents). Reads the emitted contract, so no server has to
 * run. The output is committed; test/e2e/client.test.ts fails when either is stale, and
 * `npm run typecheck` fails when a test uses a field or variable the schema no longer has.
 */
const config: CodegenConfig = {
  schema: "schema.graphql",
  ignoreNoDocuments: false,
  generates: {
    "client/generated/": {
      documents: "client/operations/**/*.graphql",
      preset: "client",
      presetConfig: {
        ...presetConfig,
        // The hash is sha256 of the printed document, the same text the server receives.
        persistedDocuments: { mode: "embedHashInDocument", hashAlgorithm: "sha256" },
      },
      config: typesConfig,
    },
    "test/generated/": {
      documents: "test/operations/**/*.graphql",
      preset: "client",
      presetConfig,
      config: typesConfig,
    },
  },
};

export default config;
