import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import { TokenError } from "./tokens.ts";

export interface ExternalIdpSettings {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** Accepted signature algorithms (default RS256, ES256); anything else is refused. */
  algorithms: string[];
}

export interface ExternalClaims {
  issuer: string;
  subject: string;
  email: string | undefined;
  name: string | undefined;
  expiresAt: Date;
}

/**
 * Access tokens of an external OpenID Connect provider, verified against its JWKS. jose's remote
 * key set refetches when a token names an unknown `kid`, at most once per cooldown (30 s), and
 * keeps keys for 10 minutes. Issuer, audience, lifetime and the algorithm allow-list always apply.
 */
export class ExternalTokens {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(readonly settings: ExternalIdpSettings) {
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 });
  }

  async verify(token: string): Promise<ExternalClaims> {
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: this.settings.algorithms,
        requiredClaims: ["sub", "exp"],
      });
      return {
        issuer: this.settings.issuer,
        subject: payload.sub!,
        email: typeof payload.email === "string" ? payload.email : undefined,
        name: typeof payload.name === "string" ? payload.name : undefined,
        expiresAt: new Date(payload.exp! * 1000),
      };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw new TokenError(error.code);
      throw new TokenError("malformed token");
    }
  }
}
