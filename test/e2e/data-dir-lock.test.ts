// The embedded default loses no data: PGlite is single-process, so while a server has DATA_DIR
// open, every other opener (CLIs, a second server) refuses instead of writing beside it, and
// what the CLIs do while no server runs is there when one starts.
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { DataDirCatalogDocument, DataDirMeRoleDocument, LogInDocument } from "../generated/graphql.ts";
import { DEMO, logIn, request, tempDir } from "../harness/index.ts";
import { embeddedEnv, runScript, startServerProcess, type Run } from "../harness/processes.ts";

const dir = tempDir("cartwheel-lock-");
const env = embeddedEnv(dir.path);
const leftovers: ChildProcess[] = [];
afterAll(() => {
  for (const child of leftovers) child.kill("SIGKILL");
  dir.remove();
});

const startServer = () => startServerProcess(["--import", "tsx", "src/main.ts"], env, leftovers);
const userCreate = (email: string, role = "STAFF") =>
  runScript("src/cli/user-create.ts", ["--email", email, "--password", "ops-password-1", "--name", "Ops", "--role", role], env);
const CATALOG = DataDirCatalogDocument;

function expectRefused(run: Run, serverPid: number) {
  expect(run.code, run.stdout + run.stderr).toBe(75);
  expect(run.stderr).toContain(`is in use by the Cartwheel server (pid ${serverPid}`);
  expect(run.stderr).toMatch(/Stop that process first/);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

it("an account made before the first start does not keep the demo catalog from being seeded", async () => {
  const made = await userCreate("early@example.com");
  expect(made.code, made.stderr).toBe(0);
  expect(made.stdout).toMatch(/^created STAFF early@example\.com/);

  const server = await startServer();
  try {
    // No HOST set and demo accounts seeded: loopback only.
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const catalog = await request(server.url, CATALOG);
    expect(catalog.data!.products.totalCount).toBe(60);
    expect(catalog.data!.categories).toHaveLength(6);
    await logIn(server.url, DEMO.customer);
    await logIn(server.url, { email: "early@example.com", password: "ops-password-1" });
  } finally {
    expect(await server.stop()).toBe(0);
  }
}, 120_000);

it("while the server runs, user:create, db:seed, db:migrate and a second server refuse and change nothing", async () => {
  const server = await startServer();
  try {
    const pid = server.child.pid!;
    const [created, seeded, migrated] = await Promise.all([
      userCreate("lost@example.com"),
      runScript("src/cli/seed.ts", [], env),
      runScript("src/cli/migrate.ts", [], env),
    ]);
    for (const run of [created, seeded, migrated]) expectRefused(run, pid);
    expect(created.stderr).toMatch(/sign up through it and have an ADMIN call setUserRole/);
    await expect(startServer()).rejects.toThrow(/server exited with 75[\s\S]*is in use by the Cartwheel server/);

    // The server kept its lock and its data.
    expect((await fetch(new URL("/health/ready", server.url))).status).toBe(200);
    expect((await request(server.url, CATALOG)).data!.products.totalCount).toBe(60);
    const login = await request(server.url, LogInDocument, { email: "lost@example.com", password: "ops-password-1" });
    expect(login.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
  } finally {
    expect(await server.stop()).toBe(0);
  }
  expect(existsSync(join(dir.path, "pglite.lock"))).toBe(false);
}, 120_000);

it("an account made after the server stopped survives the next start, and a crashed server's lock is taken over", async () => {
  const made = await userCreate("late@example.com", "ADMIN");
  expect(made.code, made.stderr).toBe(0);

  const server = await startServer();
  const admin = await logIn(server.url, { email: "late@example.com", password: "ops-password-1" });
  const me = await request(server.url, DataDirMeRoleDocument, {}, admin);
  expect(me.data!.me!.role).toBe("ADMIN");
  // Seeded once: the catalog is still the first one.
  expect((await request(server.url, CATALOG)).data!.products.totalCount).toBe(60);

  // A crash leaves the lock file behind; its owner no longer runs, so the next opener takes over.
  expect(await server.stop("SIGKILL")).toBe(null);
  expect(existsSync(join(dir.path, "pglite.lock"))).toBe(true);
  const migrated = await runScript("src/cli/migrate.ts", [], env);
  expect(migrated, migrated.stderr).toMatchObject({ code: 0, stdout: "database is up to date\n" });
  const after = await startServer();
  try {
    await logIn(after.url, { email: "late@example.com", password: "ops-password-1" });
  } finally {
    expect(await after.stop()).toBe(0);
  }
}, 180_000);
