import { decodeJwt } from "jose";
import {
  AccessTokens,
  ExternalTokens,
  LoginLimiter,
  TokenError,
  TooManyAttempts,
  hashPassword,
  hashRefreshToken,
  newRefreshToken,
  verifyPassword,
} from "../../auth/index.ts";
import { isUniqueViolation, transactional } from "../../db/transaction.ts";
import type { EventBus } from "../../events/bus.ts";
import { event, type ViewerChange } from "../../events/topics.ts";
import type { RoleName, Viewer } from "../../auth/roles.ts";
import type { Prisma, Tx } from "../../db/client.ts";
import { AppError, badInput, conflict, notFound, unauthenticated } from "../../graphql/errors.ts";
import { decodeTimeCursor, pageSize, timeCursor, toConnection } from "../../graphql/pagination.ts";
import type { ConnectionResult } from "../../graphql/types.ts";
import { keyOf, toGlobalId } from "../../lib/ids.ts";
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

/**
 * The audit log as identity writes to it: the audit module's AuditLog, which createServices
 * hands in (and the compiler checks against this). Declared here rather than imported because
 * the audit module shows identity's User: an import back would close an import cycle.
 */
export interface IdentityAudit {
  record(tx: Tx, entry: IdentityAuditEntry): Promise<void>;
  recordAlone(entry: IdentityAuditEntry): Promise<void>;
}

/** An audit row identity writes (a subset of the audit module's AuditEntry). */
export interface IdentityAuditEntry {
  action: "auth.logIn" | "auth.logInFailed" | "user.created" | "user.roleChanged" | "session.revoked" | "session.revokedAll";
  /** Who did it; null for the system (CLIs, refresh-token reuse detection) and anonymous callers. */
  actor: Viewer | string | null;
  target?: string | null;
  details?: Record<string, string | number | boolean | null | readonly string[]>;
}

export interface IdentityOptions {
  /** Where session revocations and role changes are announced to open sockets (all instances). */
  bus?: EventBus;
  /** Failed log-in counting; without it log-in attempts are not limited (CLIs, seeding). */
  limiter?: LoginLimiter;
  /** Accepts access tokens of an external OpenID Connect provider when configured. */
  external?: ExternalTokens;
  /**
   * The security audit log: log-ins and their failures, role changes and session revocations are
   * recorded there, each in the transaction of its change. Without it (CLIs) nothing is recorded.
   */
  audit?: IdentityAudit;
}

/** Accounts, passwords and sessions. Knows nothing of GraphQL beyond the contract's error codes. */
export class IdentityService {
  constructor(
    private readonly prisma: Prisma,
    private readonly tokens: AccessTokens,
    private readonly refreshTtlSeconds: number,
    private readonly options: IdentityOptions = {},
  ) {}

  /**
   * Runs a change of users or sessions in one transaction; `announce` writes the viewer change to
   * the outbox with it (every instance's open sockets apply it; nobody waits on Redis for it).
   * Without a bus (CLIs) nothing is announced: no server shares that process.
   */
  private changeViewers<T>(fn: (tx: Tx, announce: (change: ViewerChange) => void) => Promise<T>): Promise<T> {
    const bus = this.options.bus;
    if (!bus) return this.prisma.$transaction((tx) => fn(tx, () => {}));
    return transactional(this.prisma, bus, (tx, emit) => fn(tx, (change) => emit(event("VIEWER_CHANGED", change.userId, change))));
  }

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

  /**
   * An account made by an operator (npm run user:create), of any role: created and audited as
   * user.created (with its role) in one transaction, so a privileged account never appears unrecorded.
   */
  async createAccount(input: NewUser): Promise<UserRow> {
    return this.prisma.$transaction(async (tx) => {
      const user = await this.createUser(input, tx);
      await this.options.audit?.record(tx, { action: "user.created", actor: null, target: toGlobalId("User", user.id), details: { role: user.role, via: "user:create" } });
      return user;
    });
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
    return this.changeViewers(async (tx, announce) => {
      // Locked, so that of two concurrent changes each records the role the other left.
      const [before] = await tx.$queryRaw<{ role: RoleName }[]>`SELECT role::text AS role FROM users WHERE id = ${key}::uuid FOR UPDATE`;
      if (!before) throw notFound("User");
      const updated = await tx.user.updateManyAndReturn({ where: { id: key }, data: { role }, select: USER_SELECT });
      if (!updated[0]) throw notFound("User");
      announce({ userId: key, role });
      await this.options.audit?.record(tx, { action: "user.roleChanged", actor: viewer, target: toGlobalId("User", key), details: { roleBefore: before.role, role } });
      return updated[0];
    });
  }

  /** Creates a CUSTOMER and signs them in; RATE_LIMITED after too many sign-ups from one client address. */
  async signUp(input: NewUser, userAgent?: string, clientAddress?: string): Promise<AuthResult> {
    await this.limited(() => this.options.limiter?.attempt("signUp", clientAddress), "Too many sign-ups from this address");
    const user = await this.createUser({ ...input, role: "CUSTOMER" });
    return this.startSession(user, userAgent);
  }

  /**
   * Checks the password (in constant work whether or not the account exists). After too many
   * failures for the account or the client address, refuses with RATE_LIMITED even a right one.
   */
  async logIn(email: string, password: string, userAgent?: string, clientAddress?: string): Promise<AuthResult> {
    const account = email.trim().toLowerCase();
    const limiter = this.options.limiter;
    await this.limited(() => limiter?.attempt("logIn", clientAddress), "Too many sign-in attempts from this address");
    await this.limited(() => limiter?.check(account, clientAddress), "Too many failed sign-in attempts");
    const row = await this.prisma.user.findUnique({ where: { email: account }, select: { ...USER_SELECT, passwordHash: true } });
    const ok = await verifyPassword(row?.passwordHash, password);
    if (!row || !ok) {
      await limiter?.failed(account, clientAddress);
      // The address typed is not stored: people type their password into the email field, and an
      // unknown "address" is where that ends up. A known account is named by its id instead.
      await this.options.audit?.recordAlone({
        action: "auth.logInFailed",
        actor: null,
        target: row ? toGlobalId("User", row.id) : null,
        details: { reason: row ? "wrong password" : "unknown account", clientAddress: clientAddress ?? null },
      });
      throw unauthenticated("Wrong email or password");
    }
    await limiter?.succeeded(account);
    const { passwordHash: _hash, ...user } = row;
    return this.startSession(user, userAgent, { clientAddress });
  }

  /** Runs a limiter step; its refusal becomes RATE_LIMITED (HTTP 429) with extensions.retryAfterSeconds. */
  private async limited(step: () => Promise<void> | undefined, message: string): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (!(error instanceof TooManyAttempts)) throw error;
      throw new AppError("RATE_LIMITED", `${message}; try again in ${error.retryAfterSeconds} s`, {
        retryAfterSeconds: error.retryAfterSeconds,
        http: { status: 429 },
      });
    }
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
      // The system's decision, not the user's: no actor.
      await this.revokeSession(found.sessionId, "refresh token reuse", null);
      throw unauthenticated("Refresh token was already used; the session has been revoked");
    }
    const access = await this.tokens.issue({ userId: found.session.userId, sessionId: found.sessionId, role: found.session.user.role });
    return this.result(found.session.user, found.sessionId, access, next.token);
  }

  /** Revokes the session of this refresh token. False when the token is unknown. */
  async logOut(refreshToken: string): Promise<boolean> {
    const found = await this.prisma.refreshToken.findUnique({ where: { tokenHash: hashRefreshToken(refreshToken) } });
    if (!found) return false;
    // Whoever holds the refresh token acts for the session's user.
    await this.revokeSession(found.sessionId, "logout", "owner");
    return true;
  }

  /** Revokes every session of the viewer's user; their open sockets are closed within a second. */
  async logOutEverywhere(viewer: Viewer): Promise<boolean> {
    await this.changeViewers(async (tx, announce) => {
      const { count } = await tx.session.updateMany({
        where: { userId: viewer.userId, revokedAt: null },
        data: { revokedAt: new Date(), revokedReason: "logout everywhere" },
      });
      announce({ userId: viewer.userId, revokedSessions: "all" });
      await this.options.audit?.record(tx, { action: "session.revokedAll", actor: viewer, target: toGlobalId("User", viewer.userId), details: { sessions: count, reason: "logout everywhere" } });
    });
    return true;
  }

  /** Revokes one session (audited as session.revoked when it was live); `actor` "owner": its user, null: the system. */
  private async revokeSession(sessionId: string, reason: string, actor: "owner" | null): Promise<void> {
    await this.changeViewers(async (tx, announce) => {
      const revoked = await tx.session.updateManyAndReturn({
        where: { id: sessionId, revokedAt: null },
        data: { revokedAt: new Date(), revokedReason: reason },
        select: { userId: true },
      });
      if (!revoked[0]) return;
      const { userId } = revoked[0];
      announce({ userId, revokedSessions: [sessionId] });
      await this.options.audit?.record(tx, { action: "session.revoked", actor: actor && userId, target: toGlobalId("User", userId), details: { sessionId, reason } });
    });
  }

  /** A new session; with `logIn`, recorded as auth.logIn in the session's own transaction. */
  private async startSession(user: UserRow, userAgent?: string, logIn?: { clientAddress: string | undefined }): Promise<AuthResult> {
    const expiresAt = new Date(Date.now() + this.refreshTtlSeconds * 1000);
    const refresh = newRefreshToken();
    const create = (tx: Tx) =>
      tx.session.create({
        data: {
          userId: user.id,
          expiresAt,
          userAgent: userAgent?.slice(0, 300) ?? null,
          refreshTokens: { create: { tokenHash: refresh.hash, expiresAt } },
        },
        select: { id: true },
      });
    const audit = this.options.audit;
    const session =
      logIn && audit
        ? await this.prisma.$transaction(async (tx) => {
            const created = await create(tx);
            await audit.record(tx, { action: "auth.logIn", actor: user.id, target: toGlobalId("User", user.id), details: { sessionId: created.id, clientAddress: logIn.clientAddress ?? null } });
            return created;
          })
        : await create(this.prisma);
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
    const external = this.options.external;
    if (external && issuerOf(token) === external.settings.issuer) return this.externalViewer(external, token);
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

  /** The local user of an external provider's token, created as CUSTOMER on first sight. */
  private async externalViewer(external: ExternalTokens, token: string): Promise<Viewer> {
    let claims;
    try {
      claims = await external.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw unauthenticated();
      throw error;
    }
    const where = { issuer_subject: { issuer: claims.issuer, subject: claims.subject } };
    let link = await this.prisma.externalIdentity.findUnique({ where, select: { user: { select: { id: true, role: true } } } });
    if (!link) {
      try {
        await this.prisma.$transaction(async (tx) => {
          const email = claims.email?.trim().toLowerCase();
          const taken = email ? await tx.user.findUnique({ where: { email }, select: { id: true } }) : null;
          // An email already used locally is not taken over: the account gets a placeholder address.
          const address = email && !taken && EMAIL.test(email) ? email : `${claims.subject.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 60)}.${Date.now().toString(36)}@external.invalid`;
          const user = await tx.user.create({ data: { email: address, name: (claims.name ?? "External user").slice(0, 100), role: "CUSTOMER" } });
          await tx.externalIdentity.create({ data: { issuer: claims.issuer, subject: claims.subject, userId: user.id } });
        });
      } catch (error) {
        // Two first requests at once: the other one created the link.
        if (!isUniqueViolation(error)) throw error;
      }
      link = await this.prisma.externalIdentity.findUnique({ where, select: { user: { select: { id: true, role: true } } } });
      if (!link) throw unauthenticated();
    }
    return { userId: link.user.id, role: link.user.role, sessionId: `external:${claims.issuer}`, tokenExpiresAt: claims.expiresAt };
  }
}

/** The unverified `iss` of a JWT, only to choose which verifier checks it; null when unreadable. */
function issuerOf(token: string): string | null {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === "string" ? iss : null;
  } catch {
    return null;
  }
}
