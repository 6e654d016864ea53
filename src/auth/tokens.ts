import { randomBytes } from "node:crypto";
import { sha256Hex } from "../lib/hash.ts";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { KeyRing } from "./keys.ts";
import { isUuid } from "../lib/ids.ts";
import { ROLES, type RoleName } from "./roles.ts";

/** Tolerated difference between the clocks of the instances that issue and verify tokens. */
const CLOCK_SKEW_SECONDS = 60;

export interface AccessClaims {
  userId: string;
  sessionId: string;
  role: RoleName;
  expiresAt: Date;
}

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
}

/** Why a token was refused; never shown to clients beyond "invalid or expired token". */
export class TokenError extends Error {}

export class AccessTokens {
  constructor(
    readonly keys: KeyRing,
    private readonly settings: TokenSettings,
  ) {}

  async issue(subject: { userId: string; sessionId: string; role: RoleName }): Promise<{ token: string; expiresAt: Date }> {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.settings.accessTokenTtlSeconds;
    const token = await new SignJWT({ sid: subject.sessionId, role: subject.role })
      .setProtectedHeader({ alg: this.keys.signing.alg, kid: this.keys.signing.kid, typ: "at+jwt" })
      .setSubject(subject.userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.keys.signing.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies with the key the header's `kid` names (one of the ring's; nothing else is tried), that
   * key's algorithm only, issuer, audience, type and lifetime; throws TokenError otherwise.
   */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, (header) => {
        const key = typeof header.kid === "string" ? this.keys.verification.get(header.kid) : undefined;
        if (!key) throw new TokenError("unknown key id");
        if (header.alg !== key.alg) throw new TokenError("algorithm does not match the key");
        return key.publicKey;
      }, {
        algorithms: ["ES256", "EdDSA"],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        typ: "at+jwt",
        requiredClaims: ["sub", "exp", "iat"],
        // Refuses an `iat` in the future or older than a token of ours can be (clock skew: 60 s).
        maxTokenAge: this.settings.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS,
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      const role = payload.role as RoleName;
      if (!isUuid(payload.sid) || !isUuid(payload.sub) || !ROLES.includes(role)) throw new TokenError("missing or malformed claims");
      if (payload.exp! - payload.iat! > this.settings.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) throw new TokenError("lifetime too long");
      return { userId: payload.sub!, sessionId: payload.sid, role, expiresAt: new Date(payload.exp! * 1000) };
    } catch (error) {
      if (error instanceof TokenError) throw error;
      if (error instanceof joseErrors.JOSEError) throw new TokenError(error.code);
      throw new TokenError("malformed token");
    }
  }
}

/** Opaque refresh token (256 random bits) and the SHA-256 that is all the database keeps. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return sha256Hex(token);
}
