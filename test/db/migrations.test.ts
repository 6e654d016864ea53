import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { DEFAULT_MIGRATIONS_DIR, applyMigrations } from "../../src/db/migrate.ts";
import { ADMIN_DATABASE_URL, databaseUrl } from "../harness/env.ts";
import { diffSchemaFromEmpty } from "../harness/schema-diff.ts";

const created: string[] = [];
const opened: Database[] = [];

async function emptyDatabase(): Promise<{ url: string; db: Database }> {
  const name = `cw_mig_${process.pid}_${created.length}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  created.push(name);
  const url = databaseUrl(name);
  const db = await openDatabase({ url, dataDir: tmpdir(), poolSize: 4 });
  opened.push(db);
  return { url, db };
}

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

function schemaDump(url: string): string {
  const dump = execFileSync("pg_dump", ["--schema-only", "--no-owner", "--no-privileges", "--exclude-table=_prisma_migrations", url], { encoding: "utf8" });
  return dump
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("--") && !line.startsWith("SET ") && !line.startsWith("SELECT pg_catalog") && !/^\\(un)?restrict /.test(line))
    .join("\n");
}

describe("migrations", () => {
  it("equal schema.prisma: pg_dump of all migrations == pg_dump of Prisma's full diff", async () => {
    const fromMigrations = await emptyDatabase();
    const fromSchema = await emptyDatabase();
    await applyMigrations(fromMigrations.db.sql);
    const sql = await diffSchemaFromEmpty(fromSchema.url);
    await fromSchema.db.sql.withConnection((c) => c.exec(sql));
    const a = schemaDump(fromMigrations.url);
    expect(a).toContain("CREATE TABLE public.products");
    expect(a).toBe(schemaDump(fromSchema.url));
  });

  it("concurrent appliers apply each migration once, recorded with Prisma's checksum", async () => {
    const { db } = await emptyDatabase();
    const results = await Promise.all([applyMigrations(db.sql), applyMigrations(db.sql), applyMigrations(db.sql)]);
    expect(results.flat().length).toBeGreaterThan(0);
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    const rows = await db.sql.query(`SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"`);
    expect(rows.length).toBe(results.flat().length);
    for (const row of rows) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.finished_at).not.toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    expect(await applyMigrations(db.sql)).toEqual([]);
  });

  it("refuses a migration changed after it was applied, and rolls back a failing one", async () => {
    const { db } = await emptyDatabase();
    const dir = mkdtempSync(join(tmpdir(), "cw-migrations-"));
    try {
      cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
      await applyMigrations(db.sql, dir);
      const [first] = execFileSync("ls", [dir], { encoding: "utf8" }).split("\n").filter((n) => n.match(/^\d/));
      writeFileSync(join(dir, first!, "migration.sql"), "-- edited\n", { flag: "a" });
      await expect(applyMigrations(db.sql, dir)).rejects.toThrow(/modified after it was applied/);

      const fresh = await emptyDatabase();
      const broken = mkdtempSync(join(tmpdir(), "cw-migrations-"));
      cpSync(DEFAULT_MIGRATIONS_DIR, broken, { recursive: true });
      execFileSync("mkdir", [join(broken, "29990101000000_broken")]);
      writeFileSync(join(broken, "29990101000000_broken", "migration.sql"), `CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n`);
      await expect(applyMigrations(fresh.db.sql, broken)).rejects.toThrow(/29990101000000_broken failed/);
      const tables = await fresh.db.sql.query(`SELECT to_regclass('public.half_done') AS t`);
      expect(tables[0]!.t).toBeNull();
      rmSync(broken, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
