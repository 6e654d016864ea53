import { hasRole, type Viewer } from "../auth/roles.ts";

// setTimeout's ceiling (~24.8 days); longer lifetimes are re-armed when it fires.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Follows changes to a user's sessions and role, from every instance: `revoked(sessionIds)`
 * ("all" for every session) and `role(newRole)`. Returns the function that stops following.
 */
export type WatchViewer = (userId: string, on: { revoked(sessions: string[] | "all"): void; role(role: Viewer["role"]): void }) => () => void;

/** Why a live connection's credentials stopped being good. */
export type Ended = "expired" | "revoked" | "demoted";

/** What the WebSocket's close reason (after 4403) and the SSE stream's final error say. */
export const ENDED_MESSAGES: Record<Ended, string> = {
  expired: "Forbidden: access token expired",
  revoked: "Forbidden: session revoked",
  demoted: "Forbidden: role changed",
};

export interface LiveViewer {
  /** Re-arms the expiry timer after `viewer.tokenExpiresAt` changed (a renewal). */
  rearm(): void;
  /** Stops the timer and the watch (the connection closed). */
  stop(): void;
}

/**
 * Keeps a long-lived connection's viewer (a WebSocket, an SSE stream) as authorized as a fresh
 * request: `end` is called once its token expires (checked against the clock when the timer
 * fires), when its session is revoked on any instance, or, with `closeOnDemotion` (trusted-documents
 * mode: staff may run any operation), when it loses STAFF. A role change is written into `viewer`,
 * so every operation reading it applies the new role from its next event.
 */
export function followViewer(viewer: Viewer, options: { watchViewer: WatchViewer; closeOnDemotion?: boolean | undefined }, end: (why: Ended) => void): LiveViewer {
  let expiry: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(expiry);
    const remaining = viewer.tokenExpiresAt.getTime() - Date.now();
    expiry = setTimeout(
      // A timer may fire a millisecond early, and a long lifetime is waited out in several legs.
      () => (viewer.tokenExpiresAt.getTime() > Date.now() ? arm() : end("expired")),
      Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
    );
    expiry.unref();
  };
  const unwatch = options.watchViewer(viewer.userId, {
    revoked: (sessions) => {
      if (sessions === "all" || sessions.includes(viewer.sessionId)) end("revoked");
    },
    role: (role) => {
      const wasStaff = hasRole(viewer.role, "STAFF");
      viewer.role = role;
      if (options.closeOnDemotion && wasStaff && !hasRole(role, "STAFF")) end("demoted");
    },
  });
  arm();
  return {
    rearm: arm,
    stop: () => {
      clearTimeout(expiry);
      unwatch();
    },
  };
}
