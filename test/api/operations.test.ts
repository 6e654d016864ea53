import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { AuditRecentDocument, MeRoleDocument, ProductCountDocument } from "../generated/graphql.ts";
import { DEMO, createTestDatabase, logIn, ok, request, startTestServer, tempDir } from "../harness/index.ts";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let dir: ReturnType<typeof tempDir>;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = tempDir();
  app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path });
});
afterAll(async () => {
  await app?.stop();
  await db?.drop();
  dir?.remove();
});

it("health: live and ready answer 200; metrics count HTTP requests and SQL statements", async () => {
  const base = app.url.replace("/graphql", "");
  expect((await fetch(`${base}/health/live`)).status).toBe(200);
  expect((await fetch(`${base}/health/ready`)).status).toBe(200);
  await request(app.url, ProductCountDocument);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/cartwheel_sql_statements_total \d+/);
  expect(metrics).toMatch(/cartwheel_http_requests_total\{route="\/graphql",status="200"\} [1-9]/);
});

it("ready is 503 while the configured Redis is unreachable", async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const broken = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  try {
    const res = await fetch(broken.url.replace("/graphql", "/health/ready"));
    expect(res.status).toBe(503);
    expect((await fetch(broken.url.replace("/graphql", "/health/live"))).status).toBe(200);
  } finally {
    await broken.stop();
  }
});

it("user:create makes an account on the configured database that can log in", async () => {
  const email = `ops-${Date.now()}@example.com`;
  const env = { ...process.env, DATABASE_URL: db.url, DATA_DIR: dir.path, NODE_ENV: "test" };
  const { stdout } = await run(process.execPath, ["--import", "tsx", "src/cli/user-create.ts", "--email", email, "--password", "ops-password-1", "--name", "Ops", "--role", "STAFF"], { cwd: root, env });
  expect(stdout).toContain(`created STAFF ${email}`);
  const token = await logIn(app.url, { email, password: "ops-password-1" });
  const me = ok(await request(app.url, MeRoleDocument, {}, token)).me!;
  expect(me.role).toBe("STAFF");
  // A privileged account made from the command line is in the audit log, with its role, by no one.
  const admin = await logIn(app.url, DEMO.admin);
  const audit = ok(await request(app.url, AuditRecentDocument, {}, admin));
  const created = audit.auditEvents.edges
    .map((e) => ({ ...e.node, details: JSON.parse(e.node.details!) as unknown }))
    .filter((n) => n.action === "user.created" && n.target === me.id);
  expect(created).toEqual([{ action: "user.created", actor: null, target: me.id, details: { role: "STAFF", via: "user:create" } }]);
  await expect(
    run(process.execPath, ["--import", "tsx", "src/cli/user-create.ts", "--email", email, "--password", "ops-password-1", "--name", "Ops"], { cwd: root, env }),
  ).rejects.toThrow(/already exists/);
});
