import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { GraphQLError } from "graphql";
import { AppError } from "../../graphql/errors.ts";
import type { Metrics } from "../metrics.ts";
import { sha256Hex } from "../../lib/hash.ts";
import { PARTNER_ID } from "./partner-id.ts";
import { loadManifest, normalizeHash, type Manifest, type ManifestEntry } from "./manifest.ts";

export interface Partner {
  id: string;
  manifest: Manifest;
}

/** What a GraphQL request asks for, as it arrives over HTTP (body or query string) or WebSocket. */
export interface RequestParams {
  query?: unknown;
  extensions?: unknown;
  /** GraphQL over HTTP persisted documents: "sha256:<hex>". */
  documentId?: unknown;
}

export type Decision =
  /** No manifest applies to this caller: the request goes on unchanged (APQ included). */
  | { kind: "pass" }
  /** Run the manifest's text for the requested hash instead of whatever the request carried. */
  | { kind: "use"; entry: ManifestEntry; partnerId?: string }
  | { kind: "refuse"; error: GraphQLError };

export interface TrustedDocumentsOptions {
  /** JSON file `{ "partners": [{ "id", "keySha256", "manifest" }] }`; manifest paths are relative to it. */
  partnersFile: string | undefined;
  /** Require manifest operations of every caller that is neither staff nor a partner. */
  trustedDocumentsOnly: boolean;
  /** The manifest those callers are held to. Read only when trustedDocumentsOnly is on. */
  manifest: string;
}

/**
 * One decision about a request made with a partner key, for the audit log (app.ts wires it to the
 * audit module: server/ imports no module). `partnerId` null: a key no partner has.
 */
export interface PartnerKeyUse {
  partnerId: string | null;
  /** The manifest operation's name, "(not in manifest)", or "(unknown key)". */
  operation: string;
  outcome: "allowed" | "refused";
  transport: "http" | "ws" | "sse";
}

export const PARTNER_KEY_HEADER = "x-partner-key";

/**
 * Trusted documents: a request made with a partner key may only run operations from that
 * partner's manifest, and with `trustedDocumentsOnly` every request that is not staff is held to
 * the app's own manifest. Requests name operations by hash; a query text is accepted only when
 * its hash is in the manifest, and the manifest's text is what runs. One decision for HTTP,
 * WebSocket and GraphQL over SSE alike; each decision about a partner's request is counted in /metrics.
 */
export class TrustedDocuments {
  private constructor(
    private readonly partners: ReadonlyMap<string, Partner>,
    private readonly appManifest: Manifest | undefined,
    private readonly metrics: Metrics,
    private readonly onPartnerUse: ((use: PartnerKeyUse) => void) | undefined,
  ) {}

  /**
   * Reads the partners file and every manifest; throws naming the file and entry on any problem.
   * `onPartnerUse` (default: none) hears every decision about a request with a partner key; what
   * it throws is ignored, so it can never fail a request.
   */
  static load(options: TrustedDocumentsOptions, metrics: Metrics, onPartnerUse?: (use: PartnerKeyUse) => void): TrustedDocuments {
    const partners = new Map<string, Partner>();
    if (options.partnersFile) {
      const file = options.partnersFile;
      let raw: { partners?: unknown };
      try {
        raw = JSON.parse(readFileSync(file, "utf8")) as { partners?: unknown };
      } catch (error) {
        throw new Error(`PARTNERS_FILE ${file}: ${(error as Error).message}`);
      }
      if (!Array.isArray(raw.partners)) throw new Error(`PARTNERS_FILE ${file}: expected { "partners": [...] }`);
      const manifests = new Map<string, Manifest>();
      const ids = new Set<string>();
      for (const [index, entry] of (raw.partners as Record<string, unknown>[]).entries()) {
        const where = `PARTNERS_FILE ${file}: partners[${index}]`;
        const { id, keySha256, manifest } = entry ?? {};
        if (typeof id !== "string" || !PARTNER_ID.test(id)) throw new Error(`${where}: "id" must be a short lower-case name`);
        if (ids.has(id)) throw new Error(`${where}: duplicate id "${id}"`);
        const keyHash = normalizeHash(keySha256);
        if (!keyHash) throw new Error(`${where}: "keySha256" must be the hex sha256 of the partner's key (npm run partner:key)`);
        if (partners.has(keyHash)) throw new Error(`${where}: the same key is given to two partners`);
        if (typeof manifest !== "string") throw new Error(`${where}: "manifest" must be a path`);
        const path = resolve(dirname(file), manifest);
        if (!manifests.has(path)) manifests.set(path, loadManifest(path));
        ids.add(id);
        partners.set(keyHash, { id, manifest: manifests.get(path)! });
      }
    }
    const appManifest = options.trustedDocumentsOnly ? loadManifest(options.manifest) : undefined;
    return new TrustedDocuments(partners, appManifest, metrics, onPartnerUse);
  }

  /** Whether partners or trusted-documents mode are configured (else only APQ requests are checked). */
  get active(): boolean {
    return this.partners.size > 0 || this.appManifest !== undefined;
  }

  get partnerCount(): number {
    return this.partners.size;
  }

  /** The operation names of every manifest in use (the partners', and the app's in trusted-documents mode). */
  operationNames(): Set<string> {
    const names = new Set<string>();
    const manifests = [...[...this.partners.values()].map((p) => p.manifest), ...(this.appManifest ? [this.appManifest] : [])];
    for (const manifest of manifests) for (const entry of manifest.values()) names.add(entry.operationName);
    return names;
  }

  /**
   * Decides one request. `partnerKey` is the key the caller presented (undefined: none); an
   * unknown key is refused as UNAUTHENTICATED, never treated as no key. `isStaff` is asked only
   * when trusted-documents mode needs it.
   */
  async decide(
    partnerKey: string | undefined,
    params: RequestParams,
    isStaff: () => Promise<boolean>,
    transport: "http" | "ws" | "sse",
  ): Promise<Decision> {
    const extensions = (typeof params.extensions === "object" && params.extensions) || {};
    const apq = (extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } }).persistedQuery;
    const text = typeof params.query === "string" && params.query !== "" ? params.query : undefined;
    // Checked here for every caller, so a bad APQ request is answered as the client's mistake.
    // Lower-case hex only, as APQ clients send it: the store is keyed by the hash as given.
    if (apq && (apq.version !== 1 || typeof apq.sha256Hash !== "string" || !/^[0-9a-f]{64}$/.test(apq.sha256Hash))) {
      return {
        kind: "refuse",
        error: new AppError("BAD_USER_INPUT", "extensions.persistedQuery needs version 1 and a lower-case hex sha256Hash", { http: { status: 400 } }),
      };
    }
    if (apq && text !== undefined && normalizeHash(apq.sha256Hash) !== sha256Hex(text)) {
      return {
        kind: "refuse",
        error: new AppError("BAD_USER_INPUT", "extensions.persistedQuery.sha256Hash is not the sha256 of the query", { http: { status: 400 } }),
      };
    }
    let partner: Partner | undefined;
    if (partnerKey !== undefined) {
      partner = this.partners.get(sha256Hex(partnerKey));
      if (!partner) {
        this.heard({ partnerId: null, operation: "(unknown key)", outcome: "refused", transport });
        return { kind: "refuse", error: new AppError("UNAUTHENTICATED", "Unknown partner key", { http: { status: 401 } }) };
      }
    }
    const manifest = partner?.manifest ?? (this.appManifest && !(await isStaff()) ? this.appManifest : undefined);
    if (!manifest) return { kind: "pass" };

    const claimed = normalizeHash(params.documentId) ?? normalizeHash(apq?.sha256Hash);
    const hash = text !== undefined ? sha256Hex(text) : claimed;
    const entry = hash !== undefined && (claimed === undefined || claimed === hash) ? manifest.get(hash) : undefined;
    if (partner) {
      // Only manifest names become labels, so a caller cannot grow the metric without bound.
      const use = { partnerId: partner.id, operation: entry?.operationName ?? "(not in manifest)", outcome: entry ? "allowed" : "refused", transport } as const;
      this.metrics.partnerOperations.inc({ partner: use.partnerId, operation: use.operation, outcome: use.outcome, transport });
      this.heard(use);
    }
    if (!entry) {
      return {
        kind: "refuse",
        error: new AppError(
          "PERSISTED_QUERY_NOT_ALLOWED",
          "Only operations from the allowed manifest may run here: send the document's hash (documentId or extensions.persistedQuery.sha256Hash)",
          { http: { status: 400 } },
        ),
      };
    }
    return { kind: "use", entry, ...(partner ? { partnerId: partner.id } : {}) };
  }

  private heard(use: PartnerKeyUse): void {
    try {
      this.onPartnerUse?.(use);
    } catch {
      // The listener's failure is its own (see load).
    }
  }
}
