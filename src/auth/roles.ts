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
 * The viewer a group of subscribers shares (server/fanout.ts): the role, and the user when the
 * group is one user's; no session (each subscriber's socket answers for its own session).
 */
export function sharedViewer(role: RoleName, userId = ""): Viewer {
  return { userId, sessionId: "", role, tokenExpiresAt: new Date(8.64e15) };
}
