// The compiled build runs: `npm run build && node dist/src/main.js` as the README says, and the
// compiled migration CLI, on the embedded default. The build goes to its own outDir inside the
// project (so node_modules and package.json's "type": "module" are found as from dist/), not to
// dist/, which other runs may be using.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, expect, it } from "vitest";
import { BuildProductsDocument } from "../generated/graphql.ts";
import { request, tempDir } from "../harness/index.ts";
import { embeddedEnv, ROOT, runNode, startServerProcess } from "../harness/processes.ts";

mkdirSync(join(ROOT, "test/artifacts"), { recursive: true });
const outDir = mkdtempSync(join(ROOT, "test/artifacts/build-"));
const data = tempDir("cartwheel-build-");
const leftovers: ChildProcess[] = [];
afterAll(() => {
  for (const child of leftovers) child.kill("SIGKILL");
  rmSync(outDir, { recursive: true, force: true });
  data.remove();
});

it("builds with tsconfig.build.json into a dist that serves, migrates and stops cleanly", async () => {
  // tsconfig.build.json as `npm run build` uses it, only the outDir differs.
  const built = await runNode([join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", relative(ROOT, outDir)], process.env);
  expect(built, built.stdout + built.stderr).toMatchObject({ code: 0 });

  const env = embeddedEnv(data.path);
  const server = await startServerProcess([join(outDir, "src/main.js")], env, leftovers);
  try {
    const ready = await fetch(new URL("/health/ready", server.url));
    expect(ready.status).toBe(200);
    const products = await request(server.url, BuildProductsDocument);
    expect(products.errors).toBeUndefined();
    expect(products.data!.products.totalCount).toBe(60);
    expect(products.data!.products.edges).toHaveLength(3);
  } finally {
    expect(await server.stop("SIGTERM")).toBe(0);
  }

  const migrated = await runNode([join(outDir, "src/cli/migrate.js")], env);
  expect(migrated, migrated.stderr).toMatchObject({ code: 0, stdout: "database is up to date\n" });
  const helps = await Promise.all([runNode([join(outDir, "src/cli/user-create.js"), "--help"], env), runNode([join(outDir, "src/cli/seed.js"), "--help"], env)]);
  expect(helps.map((h) => [h.code, h.stdout.split("\n")[0]])).toEqual([
    [0, expect.stringMatching(/^usage: npm run user:create/)],
    [0, "usage: npm run db:seed"],
  ]);
  // The server itself: --help prints its usage and exits without starting; anything else is a usage error.
  const [help, bogus] = await Promise.all([runNode([join(outDir, "src/main.js"), "--help"], env), runNode([join(outDir, "src/main.js"), "--port", "1"], env)]);
  expect(help, help.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: node dist\/src\/main\.js[^]*-h, --help/) });
  expect(help.stdout).not.toMatch(/listening/);
  expect(bogus).toMatchObject({ code: 64, stdout: "" });
  expect(bogus.stderr).toMatch(/^Unknown option '--port' \(see: node dist\/src\/main\.js --help\)\n$/);
}, 60_000);
