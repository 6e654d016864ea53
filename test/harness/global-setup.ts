// Builds one migrated, seeded template database per run; every test file clones it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { seedDemoShop } from "../../src/seed/demo.ts";
import { AccessTokens, loadKeyRing } from "../../src/auth/index.ts";
import { openDatabase } from "../../src/db/client.ts";
import { applyMigrations } from "../../src/db/migrate.ts";
import { pino } from "pino";
import { EventBus } from "../../src/events/bus.ts";
import { OutboxStore } from "../../src/events/outbox.ts";
import { createServices } from "../../src/modules/index.ts";
import { ADMIN_DATABASE_URL, REDIS_URL, databaseUrl } from "./env.ts";

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_DATABASE_URL}: ${(error as Error).message}`);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(error as Error).message}`);
  } finally {
    redis.disconnect();
  }

  const run = `${process.pid}_${Date.now().toString(36)}`;
  const template = `cw_tpl_${run}`;
  await admin.query(`CREATE DATABASE "${template}"`);
  const dataDir = mkdtempSync(join(tmpdir(), "cartwheel-seed-"));
  const db = await openDatabase({ url: databaseUrl(template), dataDir });
  try {
    await applyMigrations(db.sql);
    const key = await loadKeyRing({ privateKey: undefined, dataDir });
    const tokens = new AccessTokens(key, { issuer: "seed", audience: "seed", accessTokenTtlSeconds: 60 });
    const bus = EventBus.writer(new OutboxStore(db.sql), pino({ level: "silent" }));
    await seedDemoShop(db.prisma, createServices({ prisma: db.prisma, bus, tokens, refreshTokenTtlSeconds: 60 }));
  } finally {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  project.provide("templateDatabase", template);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [template, `cw_test_${run}%`],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  };
}
