import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config from "../../codegen.ts";
import { createCartwheelClient } from "../../client/index.ts";
import { CategoriesDocument } from "../../client/generated/graphql.ts";
import { MyLatestOrderDocument } from "../generated/graphql.ts";
import { DEMO, createTestDatabase, logIn, ok, request, startTestServer, tempDir, useTestServer } from "../harness/index.ts";

const ROOT = resolve(import.meta.dirname, "../..");

async function generated(overrides: { schema?: string } = {}) {
  const files: { filename: string; content: string }[] = await generate({ ...config, ...overrides, cwd: ROOT, silent: true, errorsOnly: true }, false);
  return new Map<string, string>(files.map((f) => [relative(ROOT, resolve(ROOT, f.filename)), f.content]));
}

/** The output directories of codegen.ts: client/generated (the storefront's) and test/generated (the tests'). */
const OUTPUTS = Object.keys(config.generates).map((dir) => dir.replace(/\/$/, ""));

describe("typed client (GraphQL Code Generator)", () => {
  let fresh: Promise<Map<string, string>> | undefined;

  it("generates client/generated/ and test/generated/", () => {
    expect([...OUTPUTS].sort()).toEqual(["client/generated", "test/generated"]);
  });

  it.each(OUTPUTS)("the committed %s/ is what `npm run codegen` produces from schema.graphql and its operations", async (dir) => {
    const files = [...(await (fresh ??= generated()))].filter(([file]) => file.startsWith(`${dir}/`));
    const committed = readdirSync(join(ROOT, dir)).map((name) => join(dir, name));
    expect(files.map(([file]) => file).sort()).toEqual(committed.sort());
    for (const [file, content] of files) {
      expect(readFileSync(join(ROOT, file), "utf8"), `${file} is stale: run npm run codegen`).toBe(content);
    }
    if (dir === "client/generated") {
      const manifest = JSON.parse(files.find(([file]) => file === "client/generated/persisted-documents.json")![1]) as Record<string, string>;
      expect(Object.keys(manifest).length).toBeGreaterThan(10);
    } else {
      // Test documents are not trusted documents: no manifest of their own.
      expect(files.map(([file]) => file)).not.toContain(`${dir}/persisted-documents.json`);
    }
  });

  it("codegen rejects operations that no longer match the schema", async () => {
    const dir = tempDir();
    try {
      const schema = readFileSync(join(ROOT, "schema.graphql"), "utf8");
      const without = schema.replace(/(type Money[^{]*\{\n)\s+amountCents: Int!\n/, "$1");
      expect(without).not.toBe(schema);
      writeFileSync(join(dir.path, "schema.graphql"), without);
      await expect(generated({ schema: join(dir.path, "schema.graphql") })).rejects.toThrow(/amountCents/);
    } finally {
      dir.remove();
    }
  });

  it("the client, the generated documents and the example compile (tsc, strict)", () => {
    const dir = tempDir();
    try {
      const tsconfig = join(dir.path, "tsconfig.json");
      writeFileSync(
        tsconfig,
        JSON.stringify({
          extends: join(ROOT, "tsconfig.json"),
          compilerOptions: { rootDir: ROOT, noEmit: true, typeRoots: [join(ROOT, "node_modules/@types")] },
          include: [join(ROOT, "client"), join(ROOT, "examples")],
        }),
      );
      const tsc = spawnSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", tsconfig], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
      expect(tsc.stdout + tsc.stderr).toBe("");
      expect(tsc.status).toBe(0);
    } finally {
      dir.remove();
    }
  });
});

describe("the typed client against a server with APQ off", () => {
  it("falls back to sending query text after PERSISTED_QUERY_NOT_SUPPORTED", async () => {
    const db = await createTestDatabase();
    const dir = tempDir();
    const app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path, env: { APQ: "false" } });
    try {
      const client = createCartwheelClient({ url: app.url });
      const first = await client.request(CategoriesDocument);
      expect(first.categories.length).toBeGreaterThan(0);
      expect((await client.request(CategoriesDocument)).categories).toEqual(first.categories);
      // Really off: the server refuses a hash.
      const hash = (CategoriesDocument as unknown as { __meta__: { hash: string } }).__meta__.hash.replace("sha256:", "");
      const res = await fetch(app.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
      });
      expect(((await res.json()) as { errors: { extensions: { reason: string } }[] }).errors[0]!.extensions.reason).toBe("PERSISTED_QUERY_NOT_SUPPORTED");
      await client.dispose();
    } finally {
      await app.stop();
      await db.drop();
      dir.remove();
    }
  });
});

describe("npm run example:storefront", () => {
  const server = useTestServer();

  it.each(["ws", "sse"])("over %s: logs in, browses, fills the cart, sees cartUpdated and orderUpdated, checks out, resumes the cart after its cursor and exits 0", async (transport) => {
    const output = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
      const child = spawn(process.execPath, ["--import", "tsx", "examples/storefront.ts", server.app.url], {
        cwd: ROOT,
        env: { ...process.env, CARTWHEEL_EMAIL: DEMO.customer.email, CARTWHEEL_PASSWORD: DEMO.customer.password, CARTWHEEL_TRANSPORT: transport },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", fail);
      child.on("close", (code) => {
        clearTimeout(timer);
        done({ code, stdout, stderr });
      });
    });
    expect(output.stderr).toBe("");
    expect(output.code).toBe(0);
    const number = /Checked out: order (\S+), PLACED/.exec(output.stdout)?.[1];
    expect(number).toBeDefined();
    expect(output.stdout).toContain(`event: orderUpdated ${number}: PLACED`);
    expect(output.stdout).toMatch(/event: cartUpdated v\d+: 3 item\(s\)/);
    expect(output.stdout).toContain(`subscriptions over ${transport === "sse" ? "SSE" : "WebSocket"}`);
    expect(output.stdout).toContain("Storefront example finished.");
    // It resumed: the change made while offline is the first event after the saved cursor.
    const offline = /Meanwhile, on another device: added 1 x .+, cart v(\d+)/.exec(output.stdout)?.[1];
    expect(offline).toBeDefined();
    expect(output.stdout).toMatch(/Offline: the app closed its connection, keeping cursor \S+/);
    expect(output.stdout).toContain(`the missed change arrived first: cart v${offline} with 1 item(s)`);

    // The order it printed is really there, with the lines it added.
    const orders = ok(await request(server.app.url, MyLatestOrderDocument, {}, await logIn(server.app.url, DEMO.customer)));
    expect(orders.orders.edges[0]?.node.number).toBe(number);
    expect(orders.orders.edges[0]?.node.items.map((i) => i.quantity).sort()).toEqual([1, 2]);
  }, 90_000);
});
