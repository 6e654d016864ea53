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
