// Backups as the README tells operators to make them, on real processes: the embedded database
// with `npm run db:export` / `db:import` (and every refusal, each leaving the data as it was),
// PostgreSQL with the documented pg_dump / pg_restore commands. After each restore a fresh
// server serves, through GraphQL, exactly what the first one served before the backup.
import { execFile, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { lockDataDir } from "../../src/db/data-dir-lock.ts";
import {
  AdjustStockDocument,
  BackupAddToCartDocument,
  BackupCheckoutDocument,
  BackupCreateProductDocument,
  BackupProductBySlugDocument,
  BackupSnapshotDocument,
  CategoryIdsDocument,
  LogInDocument,
} from "../generated/graphql.ts";
import { createTestDatabase, DEMO, logIn, request, signUp, tempDir } from "../harness/index.ts";
import { ADMIN_DATABASE_URL } from "../harness/env.ts";
import { embeddedEnv, runScript, startServerProcess, type Run } from "../harness/processes.ts";

const run = promisify(execFile);
const leftovers: ChildProcess[] = [];
const dirs: { remove(): void }[] = [];
afterAll(() => {
  for (const child of leftovers) child.kill("SIGKILL");
  for (const dir of dirs) dir.remove();
});

function scratch(prefix: string) {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir.path;
}

const startServer = (env: NodeJS.ProcessEnv) => startServerProcess(["--import", "tsx", "src/main.ts"], env, leftovers);
const dbExport = (env: NodeJS.ProcessEnv, ...args: string[]) => runScript("src/cli/db-export.ts", args, env);
const dbImport = (env: NodeJS.ProcessEnv, ...args: string[]) => runScript("src/cli/db-import.ts", args, env);

async function snapshot(url: string): Promise<unknown> {
  const admin = await logIn(url, DEMO.admin);
  // What a restore must bring back (test/operations/data-dir.graphql), read as ADMIN.
  const res = await request(url, BackupSnapshotDocument, {}, admin);
  expect(res.errors).toBeUndefined();
  return res.data;
}

/** Changes through GraphQL that a backup must keep: a new product and its stock, a new customer, their order, a stock change. */
async function makeChanges(url: string): Promise<{ slug: string; customer: string }> {
  const staff = await logIn(url, DEMO.staff);
  const categoryId = (await request(url, CategoryIdsDocument)).data!.categories[0]!.id;
  const slug = `backup-${randomUUID().slice(0, 8)}`;
  const created = await request(
    url,
    BackupCreateProductDocument,
    { input: { slug, name: "Backup Widget", description: "made before the backup", priceCents: 4_321, categoryId } },
    staff,
  );
  expect(created.errors).toBeUndefined();
  const productId = created.data!.createProduct.id;
  const stocked = await request(url, AdjustStockDocument, { productId, delta: 9 }, staff);
  expect(stocked.data?.adjustStock.stock).toBe(9);
  const customer = await signUp(url, "Backup Customer");
  expect((await request(url, BackupAddToCartDocument, { p: productId, quantity: 2 }, customer.token)).errors).toBeUndefined();
  const order = await request(url, BackupCheckoutDocument, { k: randomUUID() }, customer.token);
  expect(order.errors).toBeUndefined();
  expect(order.data!.checkout.items[0]!.product.stock).toBe(7);
  return { slug, customer: customer.email };
}

function expectExit(result: Run, code: number, message: RegExp) {
  expect(result.code, result.stdout + result.stderr).toBe(code);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** The accounts and product slugs in an embedded database, read straight from its files (no server may have it open). */
async function contentsOf(dataDir: string): Promise<{ emails: string[]; slugs: string[] }> {
  const db = await PGlite.create(join(dataDir, "pglite"));
  try {
    const emails = (await db.query<{ email: string }>(`SELECT email FROM users ORDER BY email`)).rows.map((r) => r.email);
    const slugs = (await db.query<{ slug: string }>(`SELECT slug FROM products ORDER BY slug`)).rows.map((r) => r.slug);
    return { emails, slugs };
  } finally {
    await db.close();
  }
}

describe("the embedded database (PGlite under DATA_DIR)", () => {
  const dataDir = scratch("cartwheel-backup-");
  const env = embeddedEnv(dataDir, { SHUTDOWN_DELAY: "0" });
  const file = join(scratch("cartwheel-backup-files-"), "shop.tgz");

  it("exports, is wiped, imports, and serves the same data; every refusal leaves the data as it was", async () => {
    const first = await startServer(env);
    let before: unknown;
    let changes: { slug: string; customer: string };
    try {
      changes = await makeChanges(first.url);
      before = await snapshot(first.url);
      // While the server has DATA_DIR open, export refuses and writes nothing.
      const refused = await dbExport(env, file);
      expectExit(refused, 75, new RegExp(`is in use by the Cartwheel server \\(pid ${first.child.pid}[\\s\\S]*Stop the server, export`));
      expect(existsSync(file) || existsSync(`${file}.partial`)).toBe(false);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const exported = await dbExport(env, file);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/^exported .*pglite to .*shop\.tgz \(\d+\.\d MiB\)$/m);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expectExit(await dbExport(env, file), 73, /shop\.tgz already exists: .*--force/);

    // The database moves on after the backup; every refused import must leave it so.
    const made = await runScript("src/cli/user-create.ts", ["--email", "after-backup@example.com", "--password", "ops-password-1", "--name", "Late"], env);
    expect(made.code, made.stderr).toBe(0);
    const garbage = `${file}.garbage`;
    writeFileSync(garbage, "not an export");
    const truncated = `${file}.truncated`;
    const whole = readFileSync(file);
    writeFileSync(truncated, whole.subarray(0, whole.length >> 1));
    expectExit(await dbImport(env, file), 73, /already holds a database .*pass --replace/);
    expectExit(await dbImport(env, garbage, "--replace"), 65, /is not an export of the embedded database/);
    expectExit(await dbImport(env, truncated, "--replace"), 65, /is not an export of the embedded database/);
    expectExit(await dbImport(env, join(dataDir, "no-such.tgz"), "--replace"), 66, /no-such\.tgz does not exist/);
    const held = lockDataDir(dataDir, "the backup test");
    try {
      expectExit(await dbImport(env, file, "--replace"), 75, new RegExp(`is in use by the backup test \\(pid ${process.pid}[\\s\\S]*Stop the server first, import`));
      expectExit(await dbExport(env, file, "--force"), 75, /is in use by the backup test/);
    } finally {
      held.release();
    }
    const untouched = await contentsOf(dataDir);
    expect(untouched.emails).toContain("after-backup@example.com");
    expect(untouched.slugs).toContain(changes.slug);
    expect(readdirSync(dataDir).sort()).toEqual(["jwt-signing-key.pem", "pglite"]);

    // --replace swaps in the export: the account made after it is gone.
    const replaced = await dbImport(env, file, "--replace");
    expect(replaced.code, replaced.stderr).toBe(0);
    const migrations = readdirSync(new URL("../../prisma/migrations", import.meta.url)).filter((name) => /^\d{14}_/.test(name)).length;
    expect(replaced.stdout).toMatch(new RegExp(`\\(the previous database was replaced\\): ${migrations} migrations, 4 users, 61 products, 3 orders$`, "m"));
    const restored = await contentsOf(dataDir);
    expect(restored.emails).not.toContain("after-backup@example.com");
    expect(restored.emails).toContain(changes.customer);

    // Wiped DATA_DIR (signing key and all), then imported into it without --replace.
    rmSync(dataDir, { recursive: true, force: true });
    const imported = await dbImport(env, file);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).not.toMatch(/replaced/);
    expect(readdirSync(dataDir).sort()).toEqual(["pglite"]);

    const second = await startServer(env);
    try {
      expect(await snapshot(second.url)).toEqual(before);
      const product = await request(second.url, BackupProductBySlugDocument, { s: changes.slug });
      expect(product.data!.product).toEqual({ name: "Backup Widget", stock: 7 });
      await logIn(second.url, { email: changes.customer, password: "correct horse battery" });
      const late = await request(second.url, LogInDocument, { email: "after-backup@example.com", password: "ops-password-1" });
      expect(late.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);

  it("db:import refuses an export it cannot run (other PostgreSQL major, not Cartwheel, newer migrations) and leaves DATA_DIR empty", async () => {
    const files = scratch("cartwheel-backup-foreign-");
    // An export of another PostgreSQL major version, as PGlite lays it out.
    mkdirSync(join(files, "pg17"));
    writeFileSync(join(files, "pg17", "PG_VERSION"), "17\n");
    await run("tar", ["czf", join(files, "pg17.tgz"), "-C", join(files, "pg17"), "PG_VERSION"]);
    // A PGlite database that is not Cartwheel's.
    const foreign = await PGlite.create(join(files, "foreign"));
    await foreign.exec(`CREATE TABLE notes (body text)`);
    writeFileSync(join(files, "foreign.tgz"), Buffer.from(await (await foreign.dumpDataDir("gzip")).arrayBuffer()));
    await foreign.close();
    // An export of a newer Cartwheel: its database has a migration this build does not.
    const newer = scratch("cartwheel-backup-newer-");
    const newerEnv = embeddedEnv(newer);
    expect((await runScript("src/cli/migrate.ts", [], newerEnv)).code).toBe(0);
    const db = await PGlite.create(join(newer, "pglite"));
    await db.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count) VALUES ($1, 'x', '29991231000000_future', now(), 1)`, [randomUUID()]);
    await db.close();
    const exported = await dbExport(newerEnv, join(files, "newer.tgz"));
    expect(exported.code, exported.stderr).toBe(0);

    const target = scratch("cartwheel-backup-target-");
    const targetEnv = embeddedEnv(target);
    expectExit(await dbImport(targetEnv, join(files, "pg17.tgz")), 65, /pg17\.tgz could not be opened .*made by PostgreSQL 17 and this build's PGlite runs PostgreSQL \d+/);
    expectExit(await dbImport(targetEnv, join(files, "foreign.tgz")), 65, /is a PGlite database, but not a Cartwheel one/);
    expectExit(await dbImport(targetEnv, join(files, "newer.tgz")), 65, /was made by a newer Cartwheel: it has migration 29991231000000_future/);
    expect(readdirSync(target)).toEqual([]);
  }, 120_000);

  it("db:export and db:import need a <file>, and on PostgreSQL print the pg_dump / pg_restore commands instead", async () => {
    const empty = scratch("cartwheel-backup-usage-");
    const plain = embeddedEnv(empty);
    const onPostgres = embeddedEnv(empty, { DATABASE_URL: "postgresql://ops:s3cret-pass@127.0.0.1:5432/shop" });
    const [noFile, extra, exportPg, importPg, nothing] = await Promise.all([
      dbExport(plain),
      dbImport(plain, "a.tgz", "b.tgz"),
      dbExport(onPostgres, "shop.dump"),
      dbImport(onPostgres, "shop.dump"),
      dbExport(plain, join(empty, "out.tgz")),
    ]);
    expectExit(noFile, 64, /^missing <file> \(see: npm run db:export -- --help\)\n$/);
    expectExit(extra, 64, /unexpected argument "b\.tgz"/);
    expectExit(exportPg, 64, /pg_dump --format=custom --file=shop\.dump "\$DATABASE_URL"/);
    expectExit(importPg, 64, /pg_restore --no-owner --exit-on-error --single-transaction --dbname=.* shop\.dump/);
    for (const result of [exportPg, importPg]) expect(result.stderr).not.toContain("s3cret-pass");
    expectExit(nothing, 66, /holds no embedded database .*nothing to export/);
    expect(readdirSync(empty)).toEqual([]);
  }, 60_000);
});

describe("PostgreSQL (DATABASE_URL), with the README's pg_dump / pg_restore commands", () => {
  it("a pg_dump made while the server runs, restored into a new empty database, serves the same data", async () => {
    const database = await createTestDatabase();
    const file = join(scratch("cartwheel-pgdump-"), "shop.dump");
    const env = embeddedEnv(scratch("cartwheel-pgdump-data-"), { DATABASE_URL: database.url, HOST: "127.0.0.1", SHUTDOWN_DELAY: "0" });
    try {
      const first = await startServer(env);
      let before: unknown;
      try {
        await makeChanges(first.url);
        before = await snapshot(first.url);
        // Online: pg_dump reads one consistent snapshot while the server keeps serving.
        await run("pg_dump", ["--format=custom", `--file=${file}`, database.url]);
      } finally {
        expect(await first.stop()).toBe(0);
      }

      // Losing the database: drop it and make a new, empty one of the same name.
      const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE "${database.name}" WITH (FORCE)`);
        await admin.query(`CREATE DATABASE "${database.name}"`);
      } finally {
        await admin.end();
      }
      await run("pg_restore", ["--no-owner", "--exit-on-error", "--single-transaction", `--dbname=${database.url}`, file]);

      const second = await startServer(env);
      try {
        expect(await snapshot(second.url)).toEqual(before);
      } finally {
        expect(await second.stop()).toBe(0);
      }
    } finally {
      await database.drop();
    }
  }, 240_000);
});
