import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one server instance (its own registry, so several can share a process). */
/** What the event bus reports (src/events/bus.ts `stats()`). */
export interface OutboxStats {
  /** The last position this instance handed to its subscribers. */
  position: number;
  /** Events this instance read from the outbox because Redis had not brought them. */
  readFromOutbox: number;
  /** Events the relay published because their instance had not. */
  relayed: number;
  /** Whether this instance holds the relay lease. */
  leader: boolean;
}

const NO_OUTBOX: OutboxStats = { position: 0, readFromOutbox: 0, relayed: 0, leader: false };

export function createMetrics(sqlStatements: () => number, httpInFlight: () => number = () => 0, outbox: () => OutboxStats = () => NO_OUTBOX) {
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
    help: "HTTP queries and mutations by executor (jit, graphql-js) and path: jit, or why graphql-js ran them with GRAPHQL_EXECUTOR=jit (subscription, no-operation, not-compilable, variables); GRAPHQL_EXECUTOR=graphql-js counts none",
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
  counterOf("cartwheel_sql_statements_total", "SQL statements sent to the database", sqlStatements);
  gaugeOf("cartwheel_http_requests_in_flight", "HTTP requests received whose response has not finished (this scrape included)", httpInFlight);
  gaugeOf("cartwheel_outbox_position", "The last outbox position this instance handed to its subscribers", () => outbox().position);
  counterOf("cartwheel_outbox_read_events_total", "Events this instance read from the outbox because Redis had not brought them (outage, gap)", () => outbox().readFromOutbox);
  counterOf("cartwheel_outbox_relayed_events_total", "Events the relay (on this instance) published because the instance that committed them had not", () => outbox().relayed);
  gaugeOf("cartwheel_outbox_relay_leader", "1 while this instance holds the relay lease", () => (outbox().leader ? 1 : 0));
  return { registry, httpRequests, operations, wsConnections, partnerOperations, wsDocuments, fanoutExecutions, socketsBehind, eventsCoalesced, socketsClosedForBacklog, sseStreams, sseStreamsEndedForBacklog, responseCache, graphqlExecutions, compiledDocuments };
}

export type Metrics = ReturnType<typeof createMetrics>;
