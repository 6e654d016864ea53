import { existsSync } from "node:fs";
import { InMemoryLRUCache, PrefixingKeyValueCache, type KeyValueCache } from "@apollo/utils.keyvaluecache";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { RedisClient } from "../events/redis-connection.ts";
import { PartnerAudit } from "../modules/audit/index.ts";
import type { Services } from "../modules/index.ts";
import type { Metrics } from "../server/metrics.ts";
import { RedisKeyValueCache } from "../server/persisted/apq-cache.ts";
import { loadManifest } from "../server/persisted/manifest.ts";
import { TrustedDocuments } from "../server/persisted/trusted-documents.ts";

/** Trusted documents (partner keys, manifests) and automatic persisted queries, as configured. */
export interface PersistedQueries {
  trusted: TrustedDocuments;
  /** APQ's store when APQ is on: Redis when there is one, per instance otherwise. Apollo keys it "apq:<hash>". */
  apqCache: KeyValueCache<string> | undefined;
  /** The same entries for the WebSocket and SSE pipeline, which reads and writes them as Apollo does. */
  apq: { get(hash: string): Promise<string | undefined>; set(hash: string, text: string): Promise<void> } | undefined;
  /** Operation names that may become metric labels. */
  operationNames: Set<string>;
}

export function persistedQueries(config: Config, log: Logger, { services, redis, metrics }: { services: Services; redis: RedisClient | undefined; metrics: Metrics }): PersistedQueries {
  const { persistedQueries: settings } = config;
  // Partner-key use reaches the audit log bounded: one row per partner, operation and outcome a minute.
  const partnerAudit = new PartnerAudit(services.audit, { onError: (error) => log.warn({ err: (error as Error).message }, "partner-key use could not be audited") });
  const trusted = TrustedDocuments.load(settings, metrics, (use) => void partnerAudit.note(use));
  if (trusted.active) log.info({ partners: trusted.partnerCount, trustedDocumentsOnly: settings.trustedDocumentsOnly }, "trusted documents on");
  const apqCache = settings.apq ? (redis ? new RedisKeyValueCache(redis, config.redisPrefix, log) : new InMemoryLRUCache<string>()) : undefined;
  const entries = apqCache && new PrefixingKeyValueCache(apqCache, "apq:");
  return {
    trusted,
    apqCache,
    apq: entries && {
      get: (hash) => entries.get(hash),
      set: (hash, text) => entries.set(hash, text, { ttl: settings.apqTtlSeconds }),
    },
    operationNames: knownOperationNames(trusted, settings.manifest),
  };
}

/**
 * Operation names that may become metric labels: the manifests in use, and the app's own
 * (codegen's persisted documents) when it is there, so the storefront's operations are named.
 */
function knownOperationNames(trusted: TrustedDocuments, appManifest: string): Set<string> {
  const names = trusted.operationNames();
  if (existsSync(appManifest)) {
    try {
      for (const entry of loadManifest(appManifest).values()) names.add(entry.operationName);
    } catch {
      // A bad manifest fails the start where it is required (trusted-documents mode); for labels, none.
    }
  }
  return names;
}
