import { readFileSync } from "node:fs";
import { Kind, parse } from "graphql";
import { sha256Hex } from "../../lib/hash.ts";

export interface ManifestEntry {
  text: string;
  /** The name of the (single) operation in `text`; "anonymous" when it has none. */
  operationName: string;
}

/** An allowed-operations manifest, keyed by hex sha256 of the document text. */
export type Manifest = ReadonlyMap<string, ManifestEntry>;

/**
 * A document identifier as clients send it: `sha256:<hex>` (GraphQL over HTTP persisted
 * documents) or a bare hex digest (APQ's `sha256Hash`). Returns the lower-case hex, or undefined
 * when it is not a sha256 digest at all.
 */
export function normalizeHash(id: unknown): string | undefined {
  if (typeof id !== "string") return undefined;
  const hex = id.startsWith("sha256:") ? id.slice("sha256:".length) : id;
  return /^[0-9a-fA-F]{64}$/.test(hex) ? hex.toLowerCase() : undefined;
}

/**
 * Reads a persisted-documents manifest as GraphQL Code Generator's client preset writes it
 * (`{ "sha256:<hex>": "<document>" }`; bare hex keys are accepted too). Throws, naming the file
 * and the entry, when the file is unreadable, a key is not a sha256 digest, a key does not match
 * its text, or a document does not parse: a server must not start with a manifest it cannot trust.
 */
export function loadManifest(path: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`persisted-documents manifest ${path}: ${(error as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`persisted-documents manifest ${path}: expected an object of "sha256:<hex>": "<document>"`);
  }
  const manifest = new Map<string, ManifestEntry>();
  for (const [key, text] of Object.entries(raw)) {
    const hash = normalizeHash(key);
    if (!hash || typeof text !== "string") throw new Error(`persisted-documents manifest ${path}: bad entry "${key}"`);
    if (sha256Hex(text) !== hash) throw new Error(`persisted-documents manifest ${path}: "${key}" is not the sha256 of its document`);
    let operationName = "anonymous";
    try {
      const operations = parse(text).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      if (operations.length !== 1) throw new Error("a manifest document holds exactly one operation");
      operationName = operations[0]!.name?.value ?? "anonymous";
    } catch (error) {
      throw new Error(`persisted-documents manifest ${path}: "${key}": ${(error as Error).message}`);
    }
    manifest.set(hash, { text, operationName });
  }
  return manifest;
}
