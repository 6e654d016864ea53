// The layers' import rules (docs: npm run deps:check; test/unit/dependencies.test.ts runs the same).
// Platform below (lib, db, events, auth, graphql, server), domain above (modules), composition
// roots on top (app.ts and app/, main.ts, cli/, seed/). Type-only imports count as imports: a
// type cycle couples files as much as a value cycle does.
// Known violations (grandfathered, to be fixed) are in .dependency-cruiser-known-violations.json.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycle in src/, type-only imports included: the layers import one way.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "platform-imports-no-domain",
      severity: "error",
      comment:
        "lib/, db/, events/, auth/, graphql/ and server/ are the platform: they import no module and no composition root. " +
        "The composition root (app.ts) hands them what the domain provides (schema parts, the loader factory).",
      from: { path: "^src/(lib|db|events|auth|graphql|server)/" },
      to: { path: ["^src/modules/", "^src/app[.]ts$", "^src/app/", "^src/main[.]ts$", "^src/seed/", "^src/cli/"] },
    },
    {
      name: "lib-imports-only-lib",
      severity: "error",
      comment: "lib/ is small framework-free helpers: it imports nothing of src/ outside lib/.",
      from: { path: "^src/lib/" },
      to: { path: "^src/", pathNot: "^src/lib/" },
    },
    {
      name: "module-through-index",
      severity: "error",
      comment: "A module reaches another only through that module's index.ts, its public surface.",
      from: { path: "^src/modules/([^/]+)/" },
      to: { path: "^src/modules/[^/]+/", pathNot: ["^src/modules/$1/", "^src/modules/[^/]+/index[.]ts$"] },
    },
  ],
  options: {
    // The app's own files only: packages and the generated Prisma client are not followed.
    doNotFollow: { path: ["node_modules", "^src/generated/"] },
    exclude: { path: ["^src/generated/"] },
    // TypeScript 7 (the project's compiler) has no JavaScript API for dependency-cruiser to parse
    // with, so swc parses; it reports every import declaration, `import type` included. Imports
    // name their files with the .ts extension (allowImportingTsExtensions), so no tsconfig
    // resolution is needed.
    parser: "swc",
    tsPreCompilationDeps: true,
  },
};
