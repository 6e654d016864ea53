// Database.read on PostgreSQL really prepares a text it has seen twice (named statement, planned
// once per connection), and leaves it unnamed with DATABASE_PREPARED_STATEMENTS=false. One pooled
// connection, so the session that ran the reads is the one pg_prepared_statements describes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { createTestDatabase, tempDir } from "../harness/index.ts";

const opened: Database[] = [];
let url: string;
let drop: () => Promise<void>;
const dir = tempDir("cartwheel-prepared-");

beforeAll(async () => {
  ({ url, drop } = await createTestDatabase());
});
afterAll(async () => {
  for (const db of opened) await db.close();
  await drop();
  dir.remove();
});

async function open(preparedStatements: boolean): Promise<Database> {
  const db = await openDatabase({ url, dataDir: dir.path, owner: "prepared-statements.test.ts", poolSize: 1, preparedStatements });
  opened.push(db);
  return db;
}

const TEXT = "SELECT count(*)::int AS n FROM products WHERE status = $1::text::\"ProductStatus\"";
const prepared = (db: Database) => db.sql.query(`SELECT name, statement FROM pg_prepared_statements`) as Promise<{ name: string; statement: string }[]>;

describe("Database.read", () => {
  it("prepares a text from its second read, on the connection that runs it", async () => {
    const db = await open(true);
    const [first] = await db.read<{ n: number }>(TEXT, ["ACTIVE"]);
    expect(await prepared(db)).toEqual([]);
    const [second] = await db.read<{ n: number }>(TEXT, ["ACTIVE"]);
    expect(second).toEqual(first);
    const statements = await prepared(db);
    expect(statements).toEqual([{ name: expect.stringMatching(/^cw_[0-9a-f]{32}$/), statement: TEXT }]);
    // Read again by name: the same answer, no second statement.
    expect(await db.read(TEXT, ["ACTIVE"])).toEqual([first]);
    expect(await prepared(db)).toEqual(statements);
  });

  it("never prepares with DATABASE_PREPARED_STATEMENTS=false", async () => {
    const db = await open(false);
    for (let i = 0; i < 3; i++) await db.read(TEXT, ["ACTIVE"]);
    expect(await prepared(db)).toEqual([]);
  });
});
