import { createHash } from "node:crypto";

/** Lower-case hex SHA-256 of a text or bytes (checksums, token hashes, document ids). */
export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
