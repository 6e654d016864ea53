import { AccessTokens, TokenError, hashPassword, hashRefreshToken, newRefreshToken, verifyPassword } from "../../auth/index.ts";
import type { RoleName, Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { badInput, conflict, notFound, unauthenticated } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { keyOf } from "../../lib/ids.ts";
import type { UserRow } from "./user.type.ts";

const USER_SELECT = { id: true, email: true, name: true, role: true, createdAt: true } as const;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface AuthResult {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  user: UserRow;
  /** The session's viewer: the rest of the response is authorized as this user. */
  viewer: Viewer;
}

export interface NewUser {
  email: string;
  password: string;
  name: string;
  role?: RoleName;
}

/** Accounts, passwords and sessions. Knows nothing of GraphQL beyond the contract's error codes. */
export class IdentityService {
  constructor(
    private readonly prisma: Prisma,
    private readonly tokens: AccessTokens,
    private readonly refreshTtlSeconds: number,
  ) {}

  /** Validates and creates an account (sign-up, seed and the user:create CLI all come here). */
  async createUser(input: NewUser, tx: Tx = this.prisma): Promise<UserRow> {
    const email = input.email.trim().toLowerCase();
    const name = input.name.trim();
    if (!EMAIL.test(email) || email.length > 254) throw badInput("email is not a valid address", "email");
    if (input.password.length < 8 || input.password.length > 200) {
      throw badInput("password must be 8 to 200 characters", "password");
    }
    if (name.length < 1 || name.length > 100) throw badInput("name must be 1 to 100 characters", "name");
    const passwordHash = await hashPassword(input.password);
    const created = await tx.user.createManyAndReturn({
      data: [{ email, name, passwordHash, role: input.role ?? "CUSTOMER" }],
      skipDuplicates: true,
      select: USER_SELECT,
    });
    if (!created[0]) throw conflict("An account with this email already exists");
    return created[0];
  }

  /** Every account, oldest first (ADMIN only, enforced by the schema). */
  async listUsers(input: { first?: number | null; after?: string | null }): Promise<ConnectionResult<UserRow>> {
    const limit = pageSize(input.first);
    const after = decodeTimeCursor(input.after);
    const rows = await this.prisma.user.findMany({
      where: after ? { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] } : {},
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      take: limit + 1,
      select: USER_SELECT,
    });
    return toConnection(rows, limit, timeCursor, () => this.prisma.user.count());
  }

  /** An admin changes someone else's role (never their own: an admin cannot lock themselves out). */
  async setUserRole(viewer: Viewer, userId: string, role: RoleName): Promise<UserRow> {
    const key = keyOf(userId, "User");
    if (!key) throw badInput("userId is not a User id", "userId");
    if (key === viewer.userId) throw badInput("You cannot change your own role", "userId");
    const updated = await this.prisma.user.updateManyAndReturn({ where: { id: key }, data: { role }, select: USER_SELECT });
    if (!updated[0]) throw notFound("User");
    return updated[0];
  }

  async signUp(input: NewUser, userAgent?: string): Promise<AuthResult> {
    const user = await this.createUser({ ...input, role: "CUSTOMER" });
    return this.startSession(user, userAgent);
  }

  async logIn(email: string, password: string, userAgent?: string): Promise<AuthResult> {
    const row = await this.prisma.user.findUnique({
      where: { email: email.trim().toLowerCase() },
      select: { ...USER_SELECT, passwordHash: true },
    });
    const ok = await verifyPassword(row?.passwordHash, password);
    if (!row || !ok) throw unauthenticated("Wrong email or password");
    const { passwordHash: _hash, ...user } = row;
    return this.startSession(user, userAgent);
  }

  /** Rotates a refresh token; presenting an already-rotated one revokes the whole session. */
  async refreshSession(refreshToken: string): Promise<AuthResult> {
    const now = new Date();
    const found = await this.prisma.refreshToken.findUnique({
      where: { tokenHash: hashRefreshToken(refreshToken) },
      include: { session: { include: { user: { select: USER_SELECT } } } },
    });
    if (!found || found.session.revokedAt || found.session.expiresAt <= now || found.expiresAt <= now) {
      throw unauthenticated("Refresh token is invalid or expired");
    }
    const next = newRefreshToken();
    const rotated = await this.prisma.$transaction(async (tx) => {
      // Conditional: of two concurrent refreshes with one token, only one rotates it.
      const { count } = await tx.refreshToken.updateMany({ where: { id: found.id, rotatedAt: null }, data: { rotatedAt: now } });
      if (count === 0) return false;
      await tx.refreshToken.create({
        data: { sessionId: found.sessionId, tokenHash: next.hash, expiresAt: found.session.expiresAt },
      });
      return true;
    });
    if (!rotated) {
      await this.revokeSession(found.sessionId, "refresh token reuse");
      throw unauthenticated("Refresh token was already used; the session has been revoked");
    }
    const access = await this.tokens.issue({ userId: found.session.userId, sessionId: found.sessionId, role: found.session.user.role });
    return this.result(found.session.user, found.sessionId, access, next.token);
  }

  /** Revokes the session of this refresh token. False when the token is unknown. */
  async logOut(refreshToken: string): Promise<boolean> {
    const found = await this.prisma.refreshToken.findUnique({ where: { tokenHash: hashRefreshToken(refreshToken) } });
    if (!found) return false;
    await this.revokeSession(found.sessionId, "logout");
    return true;
  }

  private async revokeSession(sessionId: string, reason: string): Promise<void> {
    await this.prisma.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason } });
  }

  private async startSession(user: UserRow, userAgent?: string): Promise<AuthResult> {
    const expiresAt = new Date(Date.now() + this.refreshTtlSeconds * 1000);
    const refresh = newRefreshToken();
    const session = await this.prisma.session.create({
      data: {
        userId: user.id,
        expiresAt,
        userAgent: userAgent?.slice(0, 300) ?? null,
        refreshTokens: { create: { tokenHash: refresh.hash, expiresAt } },
      },
      select: { id: true },
    });
    const access = await this.tokens.issue({ userId: user.id, sessionId: session.id, role: user.role });
    return this.result(user, session.id, access, refresh.token);
  }

  private result(user: UserRow, sessionId: string, access: { token: string; expiresAt: Date }, refreshToken: string): AuthResult {
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      user,
      viewer: { userId: user.id, role: user.role, sessionId, tokenExpiresAt: access.expiresAt },
    };
  }

  /**
   * The viewer of an access token: signature and claims verified, session live, user present,
   * role as stored now (not as when the token was issued). Throws UNAUTHENTICATED otherwise.
   */
  async viewerFromToken(token: string): Promise<Viewer> {
    let claims;
    try {
      claims = await this.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw unauthenticated();
      throw error;
    }
    const session = await this.prisma.session.findUnique({
      where: { id: claims.sessionId },
      select: { userId: true, revokedAt: true, user: { select: { role: true } } },
    });
    if (!session || session.revokedAt || session.userId !== claims.userId) throw unauthenticated();
    return { userId: claims.userId, sessionId: claims.sessionId, role: session.user.role, tokenExpiresAt: claims.expiresAt };
  }
}
