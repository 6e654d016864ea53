/**
 * Opaque Relay global IDs: base64url("Type:key"). Clients never build or parse them; the server
 * rejects any id whose type is not the one expected where it is used.
 */
export type NodeType = "User" | "Category" | "Product" | "Order" | "Notification" | "Cart" | "AuditEvent";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `value` is a lower-case UUID as the database stores keys (for checking decoded cursors). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

export function toGlobalId(type: NodeType, key: string): string {
  return Buffer.from(`${type}:${key}`, "utf8").toString("base64url");
}

/** Decodes a global id; returns null for anything malformed (never throws). */
export function fromGlobalId(id: string): { type: string; key: string } | null {
  if (typeof id !== "string" || id.length === 0 || id.length > 200 || !/^[A-Za-z0-9_-]+$/.test(id)) return null;
  const text = Buffer.from(id, "base64url").toString("utf8");
  const at = text.indexOf(":");
  if (at <= 0) return null;
  const type = text.slice(0, at);
  const key = text.slice(at + 1);
  return UUID.test(key) ? { type, key } : null;
}

/** The database key of `id` if it is a well-formed id of `type`, else null. */
export function keyOf(id: string, type: NodeType): string | null {
  const decoded = fromGlobalId(id);
  return decoded && decoded.type === type ? decoded.key : null;
}
