/**
 * The stacks the HTTP bench drives, and the requests each must answer correctly before it is timed: a
 * broken server (a missing header, a route that lets anyone in) fails the bench instead of being measured.
 */
const ORIGIN = "https://app.example.com";
// A check that hangs fails the bench rather than holding it up.
const CHECK_TIMEOUT_MS = 10_000;

export interface Credential {
  /** The `kind` the route answers with when called with this credential. */
  callerKind: "user" | "api_key";
  /** What the server needs to mint or verify it. */
  env: Record<string, string>;
  /**
   * The Authorization header values, sent in turn; asked for once the server answers (Rampart mints its own
   * at start-up). More of them than a verifier's cache holds makes every request a miss.
   */
  authorizations(): Promise<string[]>;
}

export interface Route {
  path: string;
  /** An authenticated route: it must answer 200 with this credential and 401 without it. */
  credential?: Credential;
}

export interface Stack {
  key: string;
  label: string;
  /** What runs the server: "bun" or "node". */
  runtime: string;
  command: string[];
  env?: Record<string, string>;
  /** Headers a guarded stack must send: security headers, echoed request id, rate-limit headers. */
  guarded: boolean;
  rateLimited: boolean;
  route: Route;
}

/** A credential as the load generator sends it. */
export interface PresentedCredential {
  callerKind: Credential["callerKind"];
  authorizations: string[];
}

/** The credential with one character of its middle changed: a signature or checksum that no longer matches. */
function tampered(authorization: string): string {
  // Not the last character: a lenient base64url decoder ignores the low bits of a signature's last one.
  const at = authorization.length - 10;
  return `${authorization.slice(0, at)}${authorization[at] === "A" ? "B" : "A"}${authorization.slice(at + 1)}`;
}

/** An authenticated route must refuse a request without its credential, or with a forged one. */
async function refusalProblems(url: string, authorization: string): Promise<string[]> {
  const problems: string[] = [];
  for (const [what, headers] of [
    ["without a credential", {}],
    ["with a tampered credential", { authorization: tampered(authorization) }],
  ] as const) {
    const response = await fetch(url, {
      headers: { origin: ORIGIN, ...headers },
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    if (response.status !== 401) problems.push(`${what}: status ${response.status}, not 401`);
  }
  return problems;
}

/** One request as a browser would send it (with the credential, on an authenticated route), then the refusals. */
export async function checkStack(url: string, stack: Stack, presented: PresentedCredential | undefined): Promise<void> {
  const requestId = "check-0001-abcdef";
  const authorization = presented?.authorizations[presented.authorizations.length - 1];
  const response = await fetch(url, {
    headers: {
      origin: ORIGIN,
      "x-request-id": requestId,
      ...(authorization === undefined ? {} : { authorization }),
    },
    signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
  });
  const text = await response.text();
  const problems: string[] = [];
  if (response.status !== 200) problems.push(`status ${response.status}`);
  if (!response.headers.get("content-type")?.startsWith("application/json"))
    problems.push(`content-type ${response.headers.get("content-type")}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push("body is not JSON");
  }
  if (presented === undefined || authorization === undefined) {
    const ping = body as { ok?: unknown; time?: unknown } | undefined;
    if (ping?.ok !== true || typeof ping.time !== "number") problems.push(`body ${text.slice(0, 80)}`);
  } else {
    const caller = body as { kind?: unknown; id?: unknown } | undefined;
    if (caller?.kind !== presented.callerKind || typeof caller.id !== "string")
      problems.push(`body ${text.slice(0, 80)}`);
    problems.push(...(await refusalProblems(url, authorization)));
  }
  if (stack.guarded) {
    const expect = (name: string, value?: string) => {
      const got = response.headers.get(name);
      if (got === null || (value !== undefined && got !== value)) problems.push(`${name}: ${got ?? "missing"}`);
    };
    expect("access-control-allow-origin", ORIGIN);
    expect("x-content-type-options", "nosniff");
    expect("strict-transport-security");
    expect("x-frame-options");
    expect("referrer-policy");
    expect("x-request-id", requestId);
    if (stack.rateLimited) expect("ratelimit-limit", "1000000000");
  }
  if (problems.length > 0) throw new Error(`${stack.label} answered wrongly: ${problems.join("; ")}`);
}
