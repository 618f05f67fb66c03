/**
 * The JWT signing key ring. Keys move next → current → retiring → retired: the next key is published
 * in the JWKS before anything is signed with it, and a retiring key keeps verifying until every token
 * it signed has expired. Private keys are stored encrypted, bound to their kid.
 */
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { DecryptError, type DecryptFailure, type Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { signingKeys } from "../db/schema/index.ts";

export const SIGNING_ALGORITHM = "EdDSA";

/** A public key as the JWKS publishes it: these fields and no others. */
export interface PublicSigningJwk {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  use: "sig";
}

export interface KeyRing {
  readonly signingKid: string;
  /** Undefined when the current key's private half cannot be decrypted; `signingKeyProblem` says why. */
  readonly signingKey: CryptoKey | undefined;
  readonly signingKeyProblem: string | undefined;
  /** Every key that may verify: next, current and retiring. */
  readonly verificationKeys: ReadonlyMap<string, CryptoKey>;
  readonly jwks: { keys: PublicSigningJwk[] };
}

export interface RotationOptions {
  /** How long a retiring key keeps verifying: at least the longest an access token it signed can live. */
  retireAfterMs: number;
  /** Rotate only when the current key has signed for this long; overdue retiring keys are retired either way. */
  onlyIfCurrentOlderThanMs?: number;
  /** Records a rotation inside its transaction, so that it commits only with its audit row. */
  onRotated?: (tx: Db, outcome: RotationOutcome) => Promise<unknown>;
  /**
   * The time in epoch milliseconds a rotation stamps and ages keys by; tests move it instead of sleeping.
   * @default Date.now
   */
  now?: () => number;
}

export const DEFAULT_ROTATION_OPTIONS = { now: Date.now } as const;

export interface RotationOutcome {
  rotated: boolean;
  current: string;
  next: string;
  /** Keys moved to retired by this call. */
  retired: string[];
}

const SIGNING_KEYS_LOCK = 7201;

/** The additional authenticated data a key's private ciphertext is bound to. */
export const signingKeyRowIdentity = (kid: string) => `signing_keys:${kid}`;

// Copies only the public fields, so a stray private member ("d") in a stored row can never be published.
function toPublicJwk(stored: JWK, kid: string): PublicSigningJwk {
  const { kty, crv, x } = stored;
  if (typeof kty !== "string" || typeof crv !== "string" || typeof x !== "string")
    throw new Error(`signing key ${kid} has no public key`);
  return { kty, crv, x, kid, alg: SIGNING_ALGORITHM, use: "sig" };
}

export async function createSigningKey(db: Db, encryptor: Encryptor, state: "next" | "current"): Promise<string> {
  const kid = crypto.randomUUID();
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: "Ed25519", extractable: true });
  const publicJwk = toPublicJwk(await exportJWK(publicKey), kid);
  const privateJwk = JSON.stringify(await exportJWK(privateKey));
  await db.insert(signingKeys).values({
    kid,
    algorithm: SIGNING_ALGORITHM,
    state,
    publicJwk: JSON.stringify(publicJwk),
    privateKeyCiphertext: await encryptor.encrypt(privateJwk, signingKeyRowIdentity(kid)),
    activatedAt: state === "current" ? new Date() : null,
  });
  return kid;
}

/** Creates the first current and next keys when there are none; safe to run concurrently. */
export async function ensureSigningKeys(db: Db, encryptor: Encryptor): Promise<void> {
  await db.transaction(async (tx) => {
    // One writer at a time: the advisory lock makes two cold starts agree on a single first key.
    await tx.execute(sql`select pg_advisory_xact_lock(${SIGNING_KEYS_LOCK})`);
    const existing = await tx
      .select({ state: signingKeys.state })
      .from(signingKeys)
      .where(inArray(signingKeys.state, ["current", "next"]));
    if (!existing.some((k) => k.state === "current")) await createSigningKey(tx as unknown as Db, encryptor, "current");
    if (!existing.some((k) => k.state === "next")) await createSigningKey(tx as unknown as Db, encryptor, "next");
  });
}

export async function loadKeyRing(db: Db, encryptor: Encryptor): Promise<KeyRing> {
  const rows = await db
    .select()
    .from(signingKeys)
    .where(inArray(signingKeys.state, ["next", "current", "retiring"]));
  const current = rows.find((row) => row.state === "current");
  if (current === undefined) throw new Error("no current signing key");
  const verificationKeys = new Map<string, CryptoKey>();
  const jwks: PublicSigningJwk[] = [];
  for (const row of rows) {
    const jwk = toPublicJwk(JSON.parse(row.publicJwk) as JWK, row.kid);
    jwks.push(jwk);
    verificationKeys.set(row.kid, (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey);
  }
  const ring = { signingKid: current.kid, verificationKeys, jwks: { keys: jwks } };
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(
      await encryptor.decrypt(current.privateKeyCiphertext, signingKeyRowIdentity(current.kid)),
    ) as JWK;
  } catch (error) {
    if (!(error instanceof DecryptError)) throw error;
    // The public keys still verify the tokens already issued; only signing new ones is impossible.
    const problem = undecryptableSigningKey(
      current.kid,
      encryptor.versionOf(current.privateKeyCiphertext),
      error.reason,
    );
    return { ...ring, signingKey: undefined, signingKeyProblem: problem };
  }
  const signingKey = (await importJWK(privateJwk, SIGNING_ALGORITHM)) as CryptoKey;
  return { ...ring, signingKey, signingKeyProblem: undefined };
}

/** Names the variable, the key version and the kid, never key material: it reaches logs and /health/ready. */
function undecryptableSigningKey(kid: string, version: number | undefined, reason: DecryptFailure): string {
  const why = {
    "unknown-version": `it is encrypted under key version v${version}, which ENCRYPTION_KEYS does not contain`,
    "retired-version": `it is encrypted under key version v${version}, which ENCRYPTION_RETIRED_VERSIONS retires`,
    tampered: `the key ENCRYPTION_KEYS gives for version v${version} is not the one it was encrypted with`,
    malformed: "its stored ciphertext is malformed",
  }[reason];
  return `ENCRYPTION_KEYS cannot decrypt the current signing key (kid ${kid}): ${why}`;
}

/**
 * One rotation step, under a lock so concurrent callers serialise: retiring keys older than
 * `retireAfterMs` are retired, then (unless the current key is younger than `onlyIfCurrentOlderThanMs`)
 * the current key starts retiring, the next key becomes current, and a fresh next key is created.
 */
export async function rotateSigningKeys(
  db: Db,
  encryptor: Encryptor,
  options: RotationOptions,
): Promise<RotationOutcome> {
  const { now: clock } = { ...DEFAULT_ROTATION_OPTIONS, ...options };
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${SIGNING_KEYS_LOCK})`);
    const now = new Date(clock());
    const retired = await tx
      .update(signingKeys)
      .set({ state: "retired", retiredAt: now })
      .where(
        and(
          eq(signingKeys.state, "retiring"),
          lt(signingKeys.retiringAt, new Date(now.getTime() - options.retireAfterMs)),
        ),
      )
      .returning({ kid: signingKeys.kid });
    const live = await tx
      .select({ kid: signingKeys.kid, state: signingKeys.state, activatedAt: signingKeys.activatedAt })
      .from(signingKeys)
      .where(inArray(signingKeys.state, ["current", "next"]));
    const current = live.find((k) => k.state === "current");
    const next = live.find((k) => k.state === "next");
    const minAge = options.onlyIfCurrentOlderThanMs;
    if (
      minAge !== undefined &&
      current?.activatedAt != null &&
      next !== undefined &&
      now.getTime() - current.activatedAt.getTime() < minAge
    ) {
      return { rotated: false, current: current.kid, next: next.kid, retired: retired.map((k) => k.kid) };
    }
    await tx.update(signingKeys).set({ state: "retiring", retiringAt: now }).where(eq(signingKeys.state, "current"));
    const [promoted] = await tx
      .update(signingKeys)
      .set({ state: "current", activatedAt: now })
      .where(eq(signingKeys.state, "next"))
      .returning({ kid: signingKeys.kid });
    const newCurrent = promoted?.kid ?? (await createSigningKey(tx as unknown as Db, encryptor, "current"));
    const newNext = await createSigningKey(tx as unknown as Db, encryptor, "next");
    const outcome = { rotated: true, current: newCurrent, next: newNext, retired: retired.map((k) => k.kid) };
    await options.onRotated?.(tx as unknown as Db, outcome);
    return outcome;
  });
}
