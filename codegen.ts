// GraphQL Code Generator configuration for `npm run codegen`. This is a stub: the client issue
// installs @graphql-codegen/cli and the client preset, adds the operations under
// client/operations/, and fills this in (e.g. the persisted-documents manifest for
// trusted-documents mode). Until then the config is a plain object, so this file typechecks
// without those packages; type it as CodegenConfig from "@graphql-codegen/cli" once installed.

interface CodegenOutput {
  preset?: string;
  plugins?: string[];
  presetConfig?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

interface CodegenConfig {
  schema: string | string[];
  documents?: string | string[];
  generates: Record<string, CodegenOutput>;
  ignoreNoDocuments?: boolean;
}

const config: CodegenConfig = {
  // The emitted contract (`npm run schema:emit`), so codegen needs no running server.
  schema: "schema.graphql",
  documents: "client/operations/**/*.graphql",
  // There are no operations yet; this lets the stub run without any.
  ignoreNoDocuments: true,
  generates: {
    "client/generated/": {
      preset: "client",
    },
  },
};

export default config;
