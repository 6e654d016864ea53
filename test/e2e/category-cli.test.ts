// `npm run category:create` as a real process: on the embedded database (DATA_DIR) and on
// PostgreSQL (DATABASE_URL), with its refusals (usage: 64; a taken slug or bad input: 1) on one
// line and without a stack. --help and unknown options are covered with every tool in cli.test.ts.
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.ts";
import { createTestDatabase, tempDir } from "../harness/index.ts";
import { embeddedEnv, runScript } from "../harness/processes.ts";

const SCRIPT = "src/cli/category-create.ts";
const STACK = /^\s+at /m;
// Each run that opens the embedded database starts PGlite and checks its migrations: seconds on a busy machine.
const SLOW = 180_000;
const dir = tempDir("cartwheel-category-cli-");
afterAll(() => dir.remove());

/** The categories and their audit rows, read after the CLI has exited (and released the database). */
async function stored(options: { url?: string; dataDir: string }) {
  const db = await openDatabase({ url: options.url, dataDir: options.dataDir, owner: "category-cli.test.ts" });
  try {
    const categories = await db.sql.query(`SELECT slug, name FROM categories ORDER BY position, name`);
    const audit = await db.sql.query(`SELECT action, actor_id, details FROM audit_events WHERE action = 'category.created' ORDER BY seq`);
    return { categories, audit };
  } finally {
    await db.close();
  }
}

function oneLine(run: { code: number | null; stdout: string; stderr: string }, code: number, message: RegExp) {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe("");
  expect(run.stderr).not.toMatch(STACK);
  expect(run.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(message)]);
}

describe("on the embedded database (DATA_DIR)", () => {
  const env = embeddedEnv(dir.path);

  it("creates the category (audited with no actor); a second run with the same slug is refused with exit 1", { timeout: SLOW }, async () => {
    const made = await runScript(SCRIPT, ["--slug", "garden", "--name", "Garden"], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^created category garden "Garden" \([A-Za-z0-9_-]+\)\n$/);
    oneLine(await runScript(SCRIPT, ["--slug", "garden", "--name", "Garden again"], env), 1, /^A category with slug "garden" already exists$/);
    const { categories, audit } = await stored({ dataDir: dir.path });
    expect(categories).toEqual([{ slug: "garden", name: "Garden" }]);
    expect(audit).toEqual([{ action: "category.created", actor_id: null, details: { slug: "garden", name: "Garden" } }]);
  });

  it("a bad slug or an empty name is exit 1 with the validation message; missing options exit 64 before the database opens", { timeout: SLOW }, async () => {
    // One at a time: each opens (and locks) the data directory.
    oneLine(await runScript(SCRIPT, ["--slug", "Not A Slug", "--name", "X"], env), 1, /^slug must be lower-case letters/);
    oneLine(await runScript(SCRIPT, ["--slug", "ok", "--name", "  "], env), 1, /^name must be 1 to 100 characters$/);
    const empty = tempDir("cartwheel-category-cli-empty-");
    try {
      const usage = await Promise.all([
        runScript(SCRIPT, ["--slug", "ok"], embeddedEnv(empty.path)),
        runScript(SCRIPT, [], embeddedEnv(empty.path)),
        runScript(SCRIPT, ["--slug", "ok", "--name", "X", "stray"], embeddedEnv(empty.path)),
      ]);
      oneLine(usage[0]!, 64, /^missing --name \(see: npm run category:create -- --help\)$/);
      oneLine(usage[1]!, 64, /^missing --slug, --name/);
      oneLine(usage[2]!, 64, /stray/);
      expect(readdirSync(empty.path)).toEqual([]);
    } finally {
      empty.remove();
    }
    expect((await stored({ dataDir: dir.path })).categories).toEqual([{ slug: "garden", name: "Garden" }]);
  });
});

describe("on PostgreSQL (DATABASE_URL)", () => {
  it("creates the category last in the list and refuses the slug a second time", { timeout: SLOW }, async () => {
    const database = await createTestDatabase();
    const pgDir = tempDir("cartwheel-category-cli-pg-");
    try {
      const env = embeddedEnv(pgDir.path, { DATABASE_URL: database.url });
      const slug = `cli-${randomUUID().slice(0, 8)}`;
      const made = await runScript(SCRIPT, ["--slug", slug, "--name", "From The CLI"], env);
      expect(made.code, made.stderr).toBe(0);
      oneLine(await runScript(SCRIPT, ["--slug", slug, "--name", "Again"], env), 1, /already exists/);
      const { categories, audit } = await stored({ url: database.url, dataDir: pgDir.path });
      expect(categories.at(-1)).toEqual({ slug, name: "From The CLI" });
      expect(categories.filter((c) => c.slug === slug)).toHaveLength(1);
      expect(audit.at(-1)).toMatchObject({ action: "category.created", actor_id: null });
    } finally {
      pgDir.remove();
      await database.drop();
    }
  });
});
