/**
 * Access-token verification alone, in one process: Rampart's verifier against hono/jwt's `verify`, both
 * EdDSA (Ed25519) on the same public CryptoKey imported once and the same tokens (signed by
 * signAccessToken; hono checks iss, aud, typ, exp, nbf and iat). Uncached cycles through more distinct
 * tokens than Rampart's cache holds, so every call is a miss; cached repeats one token. Rounds alternate
 * the order; each verification is awaited before the next. The Ed25519 check alone, on bytes decoded in
 * advance, is the floor: through crypto.subtle (what hono/jwt uses) and node:crypto
 * (what Rampart uses). Writes bench/results/jwt-verify.txt.
 */

import { KeyObject, verify as verifySignature } from "node:crypto";
import { verify as honoVerify } from "hono/jwt";
import { exportJWK, generateKeyPair } from "jose";
import { createAccessTokenVerifier, DEFAULT_ACCESS_TOKEN_VERIFIER } from "../lib/auth/access-token-verifier.ts";
import { signAccessToken } from "../lib/auth/access-tokens.ts";
import type { KeyRingProvider } from "../lib/auth/key-ring-provider.ts";
import { type KeyRing, type PublicSigningJwk, SIGNING_ALGORITHM } from "../lib/auth/signing-keys.ts";
import { DEFAULT_CONFIG } from "../lib/config/config.ts";

const DISTINCT_TOKENS = Number(process.env.JWT_BENCH_TOKENS ?? DEFAULT_ACCESS_TOKEN_VERIFIER.maxEntries + 2_000);
const CALLS_PER_ROUND = Number(process.env.JWT_BENCH_CALLS ?? 12_000);
const ROUNDS = Number(process.env.JWT_BENCH_ROUNDS ?? 7);
const RESULTS_FILE = `${import.meta.dir}/results/jwt-verify.txt`;

const auth = DEFAULT_CONFIG.auth;
const kid = crypto.randomUUID();
const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: "Ed25519", extractable: true });
const ring: KeyRing = {
  signingKid: kid,
  signingKey: privateKey,
  signingKeyProblem: undefined,
  verificationKeys: new Map([[kid, publicKey]]),
  jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: "sig" } as PublicSigningJwk] },
};
// The ring the database would give, already loaded: what a warm instance verifies against.
const loadedRing = Promise.resolve(ring);
const provider: KeyRingProvider = {
  get: () => loadedRing,
  current: () => ring,
  forKid: () => loadedRing,
  invalidate: () => {},
};

const tokens: string[] = [];
for (let i = 0; i < DISTINCT_TOKENS; i++) {
  const subject = { userId: crypto.randomUUID(), sessionId: crypto.randomUUID() };
  tokens.push((await signAccessToken(ring, auth, subject)).token);
}
// The floor: the Ed25519 signature check alone, on bytes decoded in advance.
const signed = new Map(
  tokens.map((token) => {
    const signatureStart = token.lastIndexOf(".");
    const input = new TextEncoder().encode(token.slice(0, signatureStart));
    return [token, { input, signature: new Uint8Array(Buffer.from(token.slice(signatureStart + 1), "base64url")) }];
  }),
);
type Signed = { input: Uint8Array<ArrayBuffer>; signature: Uint8Array<ArrayBuffer> };
const subtleAlone = (token: string) => {
  const { input, signature } = signed.get(token) as Signed;
  return crypto.subtle.verify("Ed25519", publicKey, signature, input);
};
const publicKeyObject = KeyObject.from(publicKey);
const nodeAlone = (token: string) => {
  const { input, signature } = signed.get(token) as Signed;
  return verifySignature(null, input, publicKeyObject, signature);
};
const honoOptions = { alg: "EdDSA", iss: auth.issuer, aud: auth.audience, typ: "at+jwt" } as const;

type Verify = (token: string) => unknown;
interface Contender {
  name: string;
  verify: Verify;
  cached: boolean;
}
const rampart = createAccessTokenVerifier(provider, auth);
const contenders: Contender[] = [
  { name: "Rampart, uncached", verify: rampart, cached: false },
  { name: "hono/jwt, uncached", verify: (token) => honoVerify(token, publicKey, honoOptions), cached: false },
  { name: "Rampart, cached", verify: rampart, cached: true },
  { name: "Ed25519, crypto.subtle", verify: subtleAlone, cached: false },
  { name: "Ed25519, node:crypto", verify: nodeAlone, cached: false },
  { name: "hono/jwt, cached", verify: (token) => honoVerify(token, publicKey, honoOptions), cached: true },
];

// Each contender walks the tokens on its own, so every uncached call of Rampart's is a miss.
const cursors = new Map<Contender, number>();
/** Wall and CPU microseconds per verification; CPU counts the threads WebCrypto may hand work to. */
interface Timing {
  wall: number;
  cpu: number;
}
async function runRound(contender: Contender): Promise<Timing> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < CALLS_PER_ROUND; i++) {
    const cursor = cursors.get(contender) ?? 0;
    cursors.set(contender, cursor + 1);
    const token = (contender.cached ? tokens[0] : tokens[cursor % tokens.length]) as string;
    await contender.verify(token);
  }
  const wall = ((performance.now() - started) * 1000) / CALLS_PER_ROUND;
  const cpuUsed = process.cpuUsage(cpuBefore);
  return { wall, cpu: (cpuUsed.user + cpuUsed.system) / CALLS_PER_ROUND };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const range = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;

// A warm-up round for every contender, not counted.
for (const contender of contenders) await runRound(contender);
const wall = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
const cpu = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
const ratios = {
  uncached: [] as number[],
  cached: [] as number[],
  uncachedCpu: [] as number[],
  cachedCpu: [] as number[],
};
const loadBefore = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  const results = new Map<Contender, Timing>();
  for (const contender of order) results.set(contender, await runRound(contender));
  for (const contender of contenders) {
    const result = results.get(contender) as Timing;
    wall.get(contender)?.push(result.wall);
    cpu.get(contender)?.push(result.cpu);
  }
  const [ru, hu, rc, , , hc] = contenders.map((c) => results.get(c) as Timing) as [
    Timing,
    Timing,
    Timing,
    Timing,
    Timing,
    Timing,
  ];
  ratios.uncached.push(hu.wall / ru.wall);
  ratios.cached.push(hc.wall / rc.wall);
  ratios.uncachedCpu.push(hu.cpu / ru.cpu);
  ratios.cachedCpu.push(hc.cpu / rc.cpu);
}
const loadAfter = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");

const cell = (values: number[]) => `${median(values).toFixed(2).padStart(16)}${`(${range(values)})`.padStart(16)}`;
const ratio = (name: string, byWall: number[], byCpu: number[], goal: string) =>
  `Rampart / hono/jwt, ${name} ${median(byWall).toFixed(2)}x (${range(byWall)}) by wall time, ` +
  `${median(byCpu).toFixed(2)}x (${range(byCpu)}) by CPU; goal >= ${goal}`;
const lines = [
  `# bun bench/jwt-verify.ts (${new Date().toISOString()})`,
  `bun ${Bun.version}; EdDSA (Ed25519) both sides, one public CryptoKey; ${CALLS_PER_ROUND} verifications`,
  `a round, ${ROUNDS} rounds after a warm-up round, order alternating; uncached cycles ${DISTINCT_TOKENS}`,
  `tokens (Rampart's cache holds ${DEFAULT_ACCESS_TOKEN_VERIFIER.maxEntries})`,
  `load average ${loadBefore} before, ${loadAfter} after`,
  "",
  `${"".padEnd(22)}${"wall us/verify".padStart(16)}${"(range)".padStart(16)}${"CPU us/verify".padStart(16)}` +
    `${"(range)".padStart(16)}`,
  ...contenders.map((c) => `${c.name.padEnd(22)}${cell(wall.get(c) as number[])}${cell(cpu.get(c) as number[])}`),
  "",
  ratio("uncached:", ratios.uncached, ratios.uncachedCpu, "1.2x"),
  ratio("cached:  ", ratios.cached, ratios.cachedCpu, "2x"),
];
const report = lines.join("\n");
console.log(report);
await Bun.write(RESULTS_FILE, `${report}\n`);
