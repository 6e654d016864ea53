// PostgreSQL going away (a proxy in front of the shared server is cut): a signed-in client opening
// a socket is told to try again later (1013), not that its credentials are bad (4403).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.ts";
import { TRY_AGAIN_LATER } from "../../src/server/websocket.ts";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { MeIdDocument } from "../generated/graphql.ts";
import { DEMO, createTestDatabase, logIn, startTestServer, tempDir, textOf } from "../harness/index.ts";
import { ADMIN_DATABASE_URL } from "../harness/env.ts";
import { startProxy, type TcpProxy } from "../harness/proxy.ts";

const state = {} as { app: App; proxy: TcpProxy; drop(): Promise<void>; dir: { path: string; remove(): void } };

beforeAll(async () => {
  const db = await createTestDatabase();
  state.drop = db.drop;
  state.dir = tempDir();
  const target = new URL(ADMIN_DATABASE_URL);
  state.proxy = await startProxy(Number(target.port || 5432), target.hostname);
  const url = new URL(db.url);
  url.hostname = "127.0.0.1";
  url.port = String(state.proxy.port);
  state.app = await startTestServer({ databaseUrl: url.toString(), dataDir: state.dir.path });
});
afterAll(async () => {
  state.proxy.restore();
  await state.app.stop();
  await state.proxy.close();
  await state.drop();
  state.dir.remove();
});

/** Opens a socket with `token` and resolves with its close code, or "open" once a query answered on it. */
function connect(token: string): Promise<number | "open"> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("socket neither closed nor answered within 10 s")), 10_000);
    const client = createClient({
      url: state.app.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
      on: {
        closed: (event) => {
          clearTimeout(timer);
          resolve((event as { code: number }).code);
        },
      },
    });
    client.subscribe(
      { query: textOf(MeIdDocument) },
      {
        next: () => {
          clearTimeout(timer);
          resolve("open");
          void client.dispose();
        },
        error: () => {},
        complete: () => {},
      },
    );
  });
}

describe("PostgreSQL down", () => {
  it("a valid token on a new socket gets 1013 Try Again Later, readiness names the database, and all is well once it is back", async () => {
    const token = await logIn(state.app.url, DEMO.customer);
    expect(await connect(token)).toBe("open");

    state.proxy.cut();
    expect(await connect(token)).toBe(TRY_AGAIN_LATER);
    const ready = await fetch(state.app.url.replace("/graphql", "/health/ready"));
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/^database: /);

    state.proxy.restore();
    expect(await connect(token)).toBe("open");
    // A token that is really invalid is still 4403.
    expect(await connect(`${token.slice(0, -4)}AAAA`)).toBe(4403);
  });
});
