import type { AuditLog } from "./audit.service.ts";

/** One decision about a request made with a partner key (server/persisted/trusted-documents.ts). */
export interface PartnerUse {
  /** The partner the key belongs to; null for a key no partner has. */
  partnerId: string | null;
  /** The manifest operation's name, "(not in manifest)", or "(unknown key)". */
  operation: string;
  outcome: "allowed" | "refused";
  transport: string;
}

export interface PartnerAuditOptions {
  /** Length of a window (default 60 s): at most one row per partner, operation and outcome per window. */
  windowMs?: number;
  /** Called when a row could not be written (the request is never affected). */
  onError?: (error: unknown) => void;
  now?: () => number;
}

/**
 * Partner-key use, bounded: a partner's integration may send thousands of requests a minute, and
 * one row each would drown the log. Per instance, the first use of each (partner, operation,
 * outcome) in a window writes a row; later uses in that window are only counted, and the next row
 * for that key carries the count as `usesSincePreviousRow`. The keys are bounded by the
 * configuration (partners × manifest operations × 2, plus one for unknown keys), so the counters
 * need no eviction. Rows are written on their own (a request changes nothing to roll back with).
 */
export class PartnerAudit {
  private readonly windows = new Map<string, { start: number; uses: number }>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly audit: AuditLog,
    private readonly options: PartnerAuditOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Notes one use; never throws and never waits. Returns the row's write when one is due (it never
   * rejects: a failure goes to `onError`), undefined when the use was only counted.
   */
  note(use: PartnerUse): Promise<void> | undefined {
    const key = `${use.partnerId ?? ""}\u0000${use.operation}\u0000${use.outcome}`;
    const now = this.now();
    const window = this.windows.get(key);
    if (window && now - window.start < this.windowMs) {
      window.uses += 1;
      return undefined;
    }
    this.windows.set(key, { start: now, uses: 1 });
    const details = {
      operation: use.operation,
      outcome: use.outcome,
      transport: use.transport,
      ...(window ? { usesSincePreviousRow: window.uses } : {}),
    };
    return this.audit
      .recordAlone({ action: use.outcome === "allowed" ? "partner.keyUsed" : "partner.keyRefused", actor: null, target: use.partnerId, details })
      .catch((error: unknown) => this.options.onError?.(error));
  }
}
