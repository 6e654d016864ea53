import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BusStats } from "../events/bus.ts";

/** What /metrics reads at scrape time; each is optional (tests build metrics without a server). */
export interface MetricSources {
  /** SQL statements sent since start. */
  sqlStatements?: () => number;
  /** HTTP requests whose response has not finished. */
  httpInFlight?: () => number;
  /** The event bus: outbox position, head and lag, relay, publishes. */
  bus?: () => BusStats;
  /** ioredis `status` of each Redis connection, by role (publisher, subscriber, cache). */
  redis?: () => Record<string, string>;
  /** The database pool (undefined on PGlite). */
  pool?: () => { total: number; inUse: number; waiting: number; max: number } | undefined;
  /** Live subscriptions by root field. */
  subscriptions?: () => Map<string, number>;
}

const NO_BUS: BusStats = { position: 0, head: 0, lagSeconds: 0, readFromOutbox: 0, relayed: 0, leader: false, published: 0, publishFailures: 0 };

/** The latency buckets (seconds): a catalog page is a few ms, a checkout tens, a slow one seconds. */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Prometheus metrics of one server instance (its own registry, so several can share a process). */
export function createMetrics(sources: MetricSources = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "cartwheel_" });
  const httpRequests = new Counter({
    name: "cartwheel_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const operations = new Counter({
    name: "cartwheel_graphql_operations_total",
    help: "GraphQL operations by type and transport",
    labelNames: ["type", "transport"] as const,
    registers: [registry],
  });
  const wsConnections = new Gauge({
    name: "cartwheel_ws_connections",
    help: "Open WebSocket connections",
    registers: [registry],
  });
  const partnerOperations = new Counter({
    name: "cartwheel_partner_operations_total",
    help: "Operations requested with a partner key, by partner, manifest operation and outcome (allowed or refused)",
    labelNames: ["partner", "operation", "outcome", "transport"] as const,
    registers: [registry],
  });
  const wsDocuments = new Counter({
    name: "cartwheel_ws_documents_total",
    help: "Documents of WebSocket and GraphQL over SSE operations by whether they came parsed and validated from the cache (hit) or were checked now (miss)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const fanoutExecutions = new Counter({
    name: "cartwheel_fanout_executions_total",
    help: "Subscription payload executions: one per event and group of identical subscriptions, not per subscriber",
    registers: [registry],
  });
  const socketsBehind = new Gauge({
    name: "cartwheel_ws_sockets_behind",
    help: "WebSockets over WS_MAX_BUFFERED_BYTES of unsent data, whose events are being held back",
    registers: [registry],
  });
  const eventsCoalesced = new Counter({
    name: "cartwheel_ws_events_coalesced_total",
    help: "Held-back events replaced by a newer value of the same product or cart before they were sent",
    registers: [registry],
  });
  const socketsClosedForBacklog = new Counter({
    name: "cartwheel_ws_sockets_closed_for_backlog_total",
    help: "WebSockets closed (4008) for staying behind longer than WS_BACKLOG_TIMEOUT",
    registers: [registry],
  });
  const sseStreams = new Gauge({
    name: "cartwheel_sse_streams",
    help: "Open GraphQL over SSE streams (/graphql/stream)",
    registers: [registry],
  });
  const sseStreamsEndedForBacklog = new Counter({
    name: "cartwheel_sse_streams_ended_for_backlog_total",
    help: "GraphQL over SSE streams cut for holding events longer than WS_BACKLOG_TIMEOUT (or too many of them)",
    registers: [registry],
  });
  const responseCache = {
    hits: new Counter({
      name: "cartwheel_response_cache_hits_total",
      help: "Public catalog operations answered from the shared response cache, by where (http: before Apollo; graphql: after parse and validation)",
      labelNames: ["layer"] as const,
      registers: [registry],
    }),
    misses: new Counter({ name: "cartwheel_response_cache_misses_total", help: "Cacheable operations not in the response cache (executed, then stored)", registers: [registry] }),
    stale: new Counter({
      name: "cartwheel_response_cache_stale_total",
      help: "Response cache entries refused because they are older than the last catalog change this instance was told about (executed again)",
      registers: [registry],
    }),
    invalidations: new Counter({
      name: "cartwheel_response_cache_invalidations_total",
      help: "Catalog changes (product, stock and catalog events) this instance was told about: each makes every older entry stale",
      registers: [registry],
    }),
    stores: new Counter({ name: "cartwheel_response_cache_stores_total", help: "Responses written to the response cache", registers: [registry] }),
    bypasses: new Counter({
      name: "cartwheel_response_cache_bypasses_total",
      help: "Operations that did not use the response cache, by reason (staff, not_public, errors, too_large)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: "cartwheel_response_cache_errors_total",
      help: "Response cache reads and writes that failed (Redis away or slow): a read is then a miss",
      labelNames: ["operation"] as const,
      registers: [registry],
    }),
  };
  const graphqlExecutions = new Counter({
    name: "cartwheel_graphql_executions_total",
    help: "HTTP queries and mutations by executor (postgres, jit, graphql-js) and path: direct (PostgreSQL rendered the whole answer, CATALOG_READS=direct), jit, or why graphql-js ran them with GRAPHQL_EXECUTOR=jit (subscription, no-operation, not-compilable, variables); GRAPHQL_EXECUTOR=graphql-js counts none",
    labelNames: ["executor", "path"] as const,
    registers: [registry],
  });
  const compiledDocuments = new Gauge({
    name: "cartwheel_graphql_compiled_documents",
    help: "Documents held by the graphql-jit executor (compiled, or known not to compile), at most GRAPHQL_JIT_CACHE_SIZE",
    registers: [registry],
  });
  const counterOf = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const gaugeOf = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const operationDuration = new Histogram({
    name: "cartwheel_graphql_operation_duration_seconds",
    help: "Queries and mutations from request to answer, by type, operation name (names in the persisted-documents manifests; any other is \"(other)\", an unnamed one \"(anonymous)\") and transport (http, ws, sse)",
    labelNames: ["type", "name", "transport"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const graphqlErrors = new Counter({
    name: "cartwheel_graphql_errors_total",
    help: "GraphQL errors answered, by extensions.code and transport (refusals before execution included)",
    labelNames: ["code", "transport"] as const,
    registers: [registry],
  });
  const bus = () => sources.bus?.() ?? NO_BUS;
  const statusValues = ["ready", "connecting", "connect", "reconnecting", "disconnecting", "close", "end", "wait"];
  /** A gauge whose samples (labels and value) are read at scrape time; none read, none printed. */
  const labeledGaugeOf = <L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Iterable<[Record<L, string>, number]>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  const redis = () => Object.entries(sources.redis?.() ?? {});
  labeledGaugeOf("cartwheel_redis_connection_up", "1 while the Redis connection of this role (publisher, subscriber, cache) is ready, else 0; absent without REDIS_URL", ["connection"], () =>
    redis().map(([connection, status]) => [{ connection }, status === "ready" ? 1 : 0]),
  );
  labeledGaugeOf("cartwheel_redis_connection_status", "The ioredis status of each Redis connection: 1 on the label of its current status", ["connection", "status"], () =>
    redis().flatMap(([connection, status]) => statusValues.map((value): [Record<"connection" | "status", string>, number] => [{ connection, status: value }, status === value ? 1 : 0])),
  );
  labeledGaugeOf("cartwheel_db_pool_connections", "PostgreSQL pool connections by state (in_use, idle, max); absent on the embedded PGlite", ["state"], () => {
    const pool = sources.pool?.();
    return pool
      ? [
          [{ state: "in_use" }, pool.inUse],
          [{ state: "idle" }, pool.total - pool.inUse],
          [{ state: "max" }, pool.max],
        ]
      : [];
  });
  gaugeOf("cartwheel_db_pool_waiting", "Queries waiting for a free PostgreSQL pool connection (DATABASE_POOL_SIZE too small, or slow statements)", () => sources.pool?.()?.waiting ?? 0);
  labeledGaugeOf("cartwheel_subscriptions", "Live subscriptions on this instance (WebSocket and SSE) by root field", ["field"], () =>
    [...(sources.subscriptions?.() ?? [])].map(([field, count]) => [{ field }, count]),
  );
  counterOf("cartwheel_sql_statements_total", "SQL statements sent to the database", () => sources.sqlStatements?.() ?? 0);
  gaugeOf("cartwheel_http_requests_in_flight", "HTTP requests received whose response has not finished (this scrape included)", () => sources.httpInFlight?.() ?? 0);
  gaugeOf("cartwheel_outbox_position", "The last outbox position this instance handed to its subscribers", () => bus().position);
  gaugeOf("cartwheel_outbox_head_position", "The newest committed outbox position this instance knows of (read every lease tick)", () => bus().head);
  gaugeOf("cartwheel_outbox_lag_events", "Committed events this instance has not handed to its subscribers yet (head - position)", () => bus().head - bus().position);
  gaugeOf("cartwheel_outbox_lag_seconds", "How long this instance has been behind the outbox head (0 when caught up)", () => bus().lagSeconds);
  counterOf("cartwheel_outbox_read_events_total", "Events this instance read from the outbox because Redis had not brought them (outage, gap)", () => bus().readFromOutbox);
  counterOf("cartwheel_outbox_relayed_events_total", "Events the relay (on this instance) published because the instance that committed them had not", () => bus().relayed);
  gaugeOf("cartwheel_outbox_relay_leader", "1 while this instance holds the relay lease", () => (bus().leader ? 1 : 0));
  counterOf("cartwheel_events_published_total", "Events this instance published on Redis (after commit, or as the relay)", () => bus().published);
  counterOf("cartwheel_event_publish_failures_total", "Publishes that failed or were deferred because Redis was away (the relay publishes those events once it is back)", () => bus().publishFailures);
  return { registry, httpRequests, operations, wsConnections, partnerOperations, wsDocuments, fanoutExecutions, socketsBehind, eventsCoalesced, socketsClosedForBacklog, sseStreams, sseStreamsEndedForBacklog, responseCache, graphqlExecutions, compiledDocuments, operationDuration, graphqlErrors };
}

export type Metrics = ReturnType<typeof createMetrics>;
