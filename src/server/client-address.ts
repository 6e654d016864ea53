import type { IncomingMessage } from "node:http";

/**
 * The client's address for per-address limits. Behind `trustedHops` proxies (TRUST_PROXY; load
 * balancers that append the address they saw to X-Forwarded-For), it is the entry that the
 * outermost trusted proxy wrote; with none trusted (the default), the TCP peer, and the header is
 * ignored, since any client can send one.
 */
export function clientAddress(req: IncomingMessage, trustedHops: number): string | undefined {
  const peer = req.socket.remoteAddress;
  if (trustedHops === 0) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // The last `trustedHops - 1` entries were added by our own inner proxies; the one before them by
  // the outermost trusted proxy, from the connection it received. Fewer entries: the peer.
  return hops[hops.length - trustedHops] ?? peer;
}
