import { TerminatedCloseEvent } from "graphql-ws";
import { describe, expect, it } from "vitest";
import { shouldRetry, webSocketFailure } from "../../client/ws.ts";
import { CLOSE_TOO_SLOW } from "../../src/server/fanout.ts";
import { TRY_AGAIN_LATER } from "../../src/server/websocket.ts";
import { GOING_AWAY } from "../../src/server/shutdown.ts";

const closed = (code: number, reason = "") => ({ code, reason, wasClean: true });

describe("the typed client's reconnection policy", () => {
  it("reconnects after a dropped network, a server going away or asking to try again, and a socket it dropped itself", () => {
    for (const code of [1006, GOING_AWAY.code, TRY_AGAIN_LATER, 1012]) expect(shouldRetry(closed(code)), `close ${code}`).toBe(true);
    expect(shouldRetry(new TerminatedCloseEvent())).toBe(true);
    // ws reports a refused connection or a handshake timeout as an ErrorEvent, which is no Error.
    expect(shouldRetry({ type: "error", message: "connect ECONNREFUSED 127.0.0.1:1" })).toBe(true);
  });

  it("does not reconnect after 4403 (credentials), 4008 (too slow) or an Error of the client's own", () => {
    expect(shouldRetry(closed(4403, "Forbidden: session revoked"))).toBe(false);
    expect(shouldRetry(closed(4403, "Forbidden: access token expired"), () => false)).toBe(false);
    // Unless the app has other credentials by now (it refreshed the token).
    expect(shouldRetry(closed(4403, "Forbidden: access token expired"), () => true)).toBe(true);
    expect(shouldRetry(closed(CLOSE_TOO_SLOW, "too slow"), () => true)).toBe(false);
    expect(shouldRetry(closed(CLOSE_TOO_SLOW, "too slow"))).toBe(false);
    expect(shouldRetry(new Error("token getter failed"))).toBe(false);
  });

  it("ends the iterator with a coded CartwheelError", () => {
    expect(webSocketFailure(closed(4403, "Forbidden: access token expired"))).toMatchObject({
      code: "UNAUTHENTICATED",
      errors: [{ message: "Forbidden: access token expired", extensions: { closeCode: 4403 } }],
    });
    expect(webSocketFailure(closed(CLOSE_TOO_SLOW, "too slow"))).toMatchObject({ code: "CONNECTION_CLOSED", errors: [{ extensions: { closeCode: 4008 } }] });
    expect(webSocketFailure([{ message: "gone", extensions: { code: "CURSOR_EXPIRED" } }])).toMatchObject({ code: "CURSOR_EXPIRED", status: 200 });
    expect(webSocketFailure({ type: "error", message: "connect ECONNREFUSED" })).toMatchObject({ code: "CONNECTION_CLOSED", message: "CONNECTION_CLOSED: connect ECONNREFUSED" });
  });
});
