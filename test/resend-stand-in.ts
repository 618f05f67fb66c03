/**
 * A loopback stand-in for Resend's `POST /emails`: it checks the key and the body as Resend would, answers a
 * repeated Idempotency-Key with the first answer (sending once), and can be told to fail the next calls.
 */
export const RESEND_KEY = "re_test_0123456789abcdef";

export interface SentEmail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  idempotencyKey: string | null;
}

export interface ResendStandIn {
  url: string;
  /** Messages accepted (one per idempotency key). */
  sent: SentEmail[];
  /** Every call, including refused and repeated ones. */
  calls: number;
  /** Statuses to answer the next calls with, before accepting again. */
  failNext(...statuses: number[]): void;
  /** The single-use token in a message's link (`#token=`), or undefined. */
  tokenIn(email: SentEmail): string | undefined;
  reset(): void;
  stop(): void;
}

export function startResendStandIn(): ResendStandIn {
  const sent: SentEmail[] = [];
  const seen = new Map<string, string>();
  let failures: number[] = [];
  const state = { calls: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      state.calls++;
      if (request.method !== "POST" || new URL(request.url).pathname !== "/emails")
        return Response.json({ name: "not_found" }, { status: 404 });
      if (request.headers.get("authorization") !== `Bearer ${RESEND_KEY}`)
        return Response.json({ name: "invalid_api_key" }, { status: 401 });
      const failure = failures.shift();
      if (failure !== undefined) return Response.json({ name: "application_error" }, { status: failure });
      const body = (await request.json()) as Omit<SentEmail, "idempotencyKey">;
      if (typeof body.from !== "string" || !Array.isArray(body.to) || typeof body.subject !== "string")
        return Response.json({ name: "validation_error" }, { status: 422 });
      const key = request.headers.get("idempotency-key");
      const earlier = key === null ? undefined : seen.get(key);
      if (earlier !== undefined) return Response.json({ id: earlier });
      const id = crypto.randomUUID();
      if (key !== null) seen.set(key, id);
      sent.push({ ...body, idempotencyKey: key });
      return Response.json({ id });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/emails`,
    sent,
    get calls() {
      return state.calls;
    },
    failNext: (...statuses) => void (failures = statuses),
    tokenIn: (email) => /#token=([A-Za-z0-9_-]{43})/.exec(email.text)?.[1],
    reset() {
      sent.length = 0;
      failures = [];
      state.calls = 0;
    },
    stop: () => void server.stop(true),
  };
}
