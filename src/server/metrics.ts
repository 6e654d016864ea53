import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one server instance (its own registry, so several can share a process). */
export function createMetrics(sqlStatements: () => number, httpInFlight: () => number = () => 0) {
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
  new Counter({
    name: "cartwheel_sql_statements_total",
    help: "SQL statements sent to the database",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sqlStatements());
    },
  });
  new Gauge({
    name: "cartwheel_http_requests_in_flight",
    help: "HTTP requests received whose response has not finished (this scrape included)",
    registers: [registry],
    collect() {
      this.set(httpInFlight());
    },
  });
  return { registry, httpRequests, operations, wsConnections, partnerOperations, wsDocuments, fanoutExecutions, socketsBehind, eventsCoalesced, socketsClosedForBacklog, sseStreams, sseStreamsEndedForBacklog };
}

export type Metrics = ReturnType<typeof createMetrics>;
