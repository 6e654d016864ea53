import { randomBytes } from "node:crypto";
import { sha256Hex } from "../lib/hash.ts";
import { PARTNER_ID } from "../server/persisted/partner-id.ts";
import { parseCommandLine, runCommand, UsageError } from "./cli.ts";

/**
 * `npm run partner:key -- <partner-id> [manifest]`: makes a new partner API key. Prints the key
 * once (hand it to the partner; it is not stored anywhere) and the entry to add to PARTNERS_FILE,
 * which holds only the key's sha256.
 */
const command = {
  name: "npm run partner:key --",
  help: `usage: npm run partner:key -- <partner-id> [manifest]

Makes a new partner API key. Prints the key once (hand it to the partner; it is stored nowhere)
and the entry for PARTNERS_FILE, which holds only the key's sha256.

  <partner-id>  1 to 63 lower-case letters, digits, - or _ (starting with a letter or digit)
  [manifest]    the partner's manifest, relative to PARTNERS_FILE
                (default client/generated/persisted-documents.json)
  -h, --help    this text`,
  allowPositionals: true,
} as const;

const { positionals } = parseCommandLine(command);
await runCommand(command, async () => {
  const [id, manifest = "client/generated/persisted-documents.json", ...extra] = positionals;
  if (!id) throw new UsageError("missing <partner-id>");
  if (!PARTNER_ID.test(id)) throw new UsageError(`partner id "${id}" must be 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const key = `cwp_${randomBytes(24).toString("base64url")}`;
  console.log(`Partner key for "${id}" (shown once; send it as the X-Partner-Key header):\n\n  ${key}\n`);
  console.log("Add to the partners file (PARTNERS_FILE); the manifest path is relative to that file:\n");
  console.log(JSON.stringify({ id, keySha256: sha256Hex(key), manifest }, null, 2));
});
