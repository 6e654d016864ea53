import type { CodegenConfig } from "@graphql-codegen/cli";

/**
 * `npm run codegen`: typed documents for the storefront operations in client/operations/, plus
 * the persisted-documents manifest (`"sha256:<hex>" -> document text`) that partner keys and
 * trusted-documents mode allow. Reads the emitted contract, so no server has to run. The output
 * is committed; test/e2e/client.test.ts fails when it is stale or no longer compiles.
 */
const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: "client/operations/**/*.graphql",
  ignoreNoDocuments: false,
  generates: {
    "client/generated/": {
      preset: "client",
      presetConfig: {
        // Plain typed results: a Node or server-side client has no component tree to unmask fragments in.
        fragmentMasking: false,
        // The hash is sha256 of the printed document, the same text the server receives.
        persistedDocuments: { mode: "embedHashInDocument", hashAlgorithm: "sha256" },
      },
      config: {
        useTypeImports: true,
        // Node ESM (and this repo's tsconfig) need explicit extensions on relative imports.
        importExtension: ".ts",
        enumsAsTypes: true,
        scalars: { DateTime: "string" },
      },
    },
  },
};

export default config;
