import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, type JWK } from "jose";

export type SigningAlg = "ES256" | "EdDSA";

/** A public key that verifies access tokens whose header names its `kid`. */
export interface VerificationKey {
  kid: string;
  alg: SigningAlg;
  publicKey: KeyObject;
  /** As served at /.well-known/jwks.json (kid, alg, use=sig). */
  publicJwk: JWK;
}

export interface SigningKey extends VerificationKey {
  privateKey: KeyObject;
}

/**
 * The newest key signs; it and every still-trusted previous key verify. Rotation: configure the
 * new private key and move the old one's public key to JWT_VERIFY_KEYS; tokens it signed stay
 * valid until it is removed from there (retired).
 */
export interface KeyRing {
  signing: SigningKey;
  verification: ReadonlyMap<string, VerificationKey>;
}

/** File under DATA_DIR where the embedded default keeps its generated key (mode 0600). */
export const GENERATED_KEY_FILE = "jwt-signing-key.pem";

/**
 * A key setting that cannot be used. The message names the setting and the key's type, never
 * the key material, so it can be printed as it is.
 */
export class KeyError extends Error {
  constructor(
    readonly setting: "JWT_PRIVATE_KEY" | "JWT_VERIFY_KEYS",
    detail: string,
  ) {
    super(`${setting} ${detail}`);
  }
}

function algOf(key: KeyObject): SigningAlg {
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  const curve = key.asymmetricKeyDetails?.namedCurve;
  throw new Error(`is an ${key.asymmetricKeyType?.toUpperCase() ?? "unknown"}${curve ? ` ${curve}` : ""} key; it must be ES256 (P-256) or EdDSA (Ed25519)`);
}

/** Runs a key parse, turning any failure into a KeyError naming the setting. */
async function keyFrom<T>(setting: KeyError["setting"], parse: () => Promise<T>): Promise<T> {
  try {
    return await parse();
  } catch (error) {
    if (error instanceof KeyError) throw error;
    // JSON.parse quotes the input in its message: that would print key material.
    if (error instanceof SyntaxError) throw new KeyError(setting, "is not valid JSON (expected a JWK or PEM)");
    const message = (error as Error).message;
    throw new KeyError(setting, message.startsWith("is an ") ? message : `could not be read as a key (${message})`);
  }
}

async function verificationKey(publicKey: KeyObject): Promise<VerificationKey> {
  const alg = algOf(publicKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, publicKey, publicJwk: { ...jwk, kid, alg, use: "sig" } };
}

/** A private key given as PKCS#8 PEM or as a private JWK (JSON). */
export async function signingKeyFrom(text: string): Promise<SigningKey> {
  const trimmed = text.trim();
  const privateKey = trimmed.startsWith("{")
    ? createPrivateKey({ key: JSON.parse(trimmed) as import("node:crypto").JsonWebKey, format: "jwk" })
    : createPrivateKey({ key: trimmed, format: "pem" });
  return { ...(await verificationKey(createPublicKey(privateKey))), privateKey };
}

/** Public keys given as a JWKS (`{"keys":[…]}`), a JWK, a JSON array of JWKs, or concatenated PEM blocks. */
export async function verificationKeysFrom(text: string): Promise<VerificationKey[]> {
  const trimmed = text.trim();
  if (!trimmed) return [];
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const parsed = JSON.parse(trimmed) as JWK | JWK[] | { keys: JWK[] };
    const jwks = Array.isArray(parsed) ? parsed : "keys" in parsed ? parsed.keys : [parsed];
    return Promise.all(
      jwks.map((jwk) => {
        const { d: _private, ...pub } = jwk as JWK & { d?: string };
        return verificationKey(createPublicKey({ key: pub as import("node:crypto").JsonWebKey, format: "jwk" }));
      }),
    );
  }
  const blocks = trimmed.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  if (blocks.length === 0) throw new KeyError("JWT_VERIFY_KEYS", "holds no PEM block or JWK");
  return Promise.all(blocks.map((pem) => verificationKey(createPublicKey({ key: pem, format: "pem" }))));
}

/**
 * The configured keys, or outside production one generated on first start and kept under
 * dataDir, so tokens survive restarts and nothing insecure is ever shipped as a default.
 * Throws KeyError naming the setting when a configured key is unusable (wrong type, garbage).
 */
export async function loadKeyRing(options: { privateKey: string | undefined; verifyKeys?: string | undefined; dataDir: string }): Promise<KeyRing> {
  // A generated key that cannot be written or read fails with its own (file system) error.
  const pem = options.privateKey ?? (await generatedKeyPem(options.dataDir));
  const signing = await keyFrom("JWT_PRIVATE_KEY", () => signingKeyFrom(pem));
  const verification = new Map<string, VerificationKey>([[signing.kid, signing]]);
  for (const key of await keyFrom("JWT_VERIFY_KEYS", () => verificationKeysFrom(options.verifyKeys ?? ""))) verification.set(key.kid, key);
  return { signing, verification };
}

async function generatedKeyPem(dataDir: string): Promise<string> {
  const file = join(dataDir, GENERATED_KEY_FILE);
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, await exportPKCS8(privateKey), { mode: 0o600, flag: "wx" });
      chmodSync(file, 0o600);
    } catch (error) {
      // Another instance starting on the same DATA_DIR wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  return readFileSync(file, "utf8");
}

/** The public half of every key that verifies, as served at /.well-known/jwks.json. */
export function jwks(ring: KeyRing): { keys: JWK[] } {
  return { keys: [...ring.verification.values()].map((k) => k.publicJwk) };
}
