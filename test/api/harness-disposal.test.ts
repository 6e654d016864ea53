// The harness disposes what a test starts (test/harness/dispose.ts): a server, its database and a
// socket left open by one test are gone before the next one runs; what the file started in
// beforeAll lives until the file ends.
import pg from "pg";
import { expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { TypenameDocument } from "../generated/graphql.ts";
import { ADMIN_DATABASE_URL } from "../harness/env.ts";
import { createTestDatabase, disposeLater, nextWithin, startTestServer, subscribe, tempDir, useTestServer, wsClient } from "../harness/index.ts";

const server = useTestServer();

const left = {} as { app: App; database: string; closedWith?: number };

const health = (app: App) => fetch(`${new URL(app.url).origin}/health/live`);

it("a test may end with a server, its database and a socket still open", async () => {
  const db = await createTestDatabase();
  const dir = tempDir();
  disposeLater(dir.remove);
  left.app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path });
  left.database = db.name;
  const client = wsClient(left.app.wsUrl, undefined, (code) => (left.closedWith = code));
  expect((await nextWithin(subscribe(client, TypenameDocument))).data).toEqual({ __typename: "Query" });
  expect((await health(left.app)).status).toBe(200);
});

it("the next test finds them disposed, and the file's own server still serving", async () => {
  expect(left.closedWith).toBeDefined();
  await expect(health(left.app)).rejects.toThrow();
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    expect((await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [left.database])).rowCount).toBe(0);
  } finally {
    await admin.end();
  }
  expect((await health(server.app)).status).toBe(200);
});
