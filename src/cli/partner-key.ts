import { randomBytes } from "node:crypto";
import { sha256Hex } from "../lib/hash.ts";
import { PARTNER_ID } from "../server/persisted/trusted-documents.ts";

/**
 * `npm run partner:key -- <partner-id> [manifest]`: makes a new partner API key. Prints the key
 * once (hand it to the partner; it is not stored anywhere) and the entry to add to PARTNERS_FILE,
 * which holds only the key's sha256.
 */
const [id, manifest = "client/generated/persisted-documents.json"] = process.argv.slice(2);
if (!id || !PARTNER_ID.test(id)) {
  console.error("usage: npm run partner:key -- <partner-id (lower-case letters, digits, - or _)> [manifest path]");
  process.exit(2);
}
const key = `cwp_${randomBytes(24).toString("base64url")}`;
console.log(`Partner key for "${id}" (shown once; send it as the X-Partner-Key header):\n\n  ${key}\n`);
console.log("Add to the partners file (PARTNERS_FILE); the manifest path is relative to that file:\n");
console.log(JSON.stringify({ id, keySha256: sha256Hex(key), manifest }, null, 2));
