import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, type JWK } from "jose";

export type SigningAlg = "ES256" | "EdDSA";

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: JWK;
}

/** File under DATA_DIR where the embedded default keeps its generated key (mode 0600). */
export const GENERATED_KEY_FILE = "jwt-signing-key.pem";

function algOf(key: KeyObject): SigningAlg {
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new Error("JWT_PRIVATE_KEY must be an ES256 (P-256) or Ed25519 private key");
}

export async function signingKeyFromPem(pem: string): Promise<SigningKey> {
  const privateKey = createPrivateKey({ key: pem, format: "pem" });
  const alg = algOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg, use: "sig" } };
}

/**
 * The configured key, or outside production one generated on first start and kept under
 * dataDir, so tokens survive restarts and nothing insecure is ever shipped as a default.
 */
export async function loadSigningKey(options: { pem: string | undefined; dataDir: string }): Promise<SigningKey> {
  if (options.pem) return signingKeyFromPem(options.pem);
  const file = join(options.dataDir, GENERATED_KEY_FILE);
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, await exportPKCS8(privateKey), { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
  }
  return signingKeyFromPem(readFileSync(file, "utf8"));
}
