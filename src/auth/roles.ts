export const ROLES = ["CUSTOMER", "STAFF", "ADMIN"] as const;
export type RoleName = (typeof ROLES)[number];

/** CUSTOMER < STAFF < ADMIN. */
export function hasRole(actual: RoleName, required: RoleName): boolean {
  return ROLES.indexOf(actual) >= ROLES.indexOf(required);
}

/** Who is calling: resolved per HTTP request and per WebSocket connection. */
export interface Viewer {
  userId: string;
  role: RoleName;
  sessionId: string;
  /** When the access token that established this viewer expires. */
  tokenExpiresAt: Date;
}

/**
 * The viewer a group of subscribers of one role shares (server/fanout.ts): it has the role and
 * nothing else, so only what depends on the role alone can be answered for it.
 */
export function sharedViewer(role: RoleName): Viewer {
  return { userId: "", sessionId: "", role, tokenExpiresAt: new Date(8.64e15) };
}
