/**
 * Whether a webhook endpoint URL may receive deliveries, checked when it is registered and again before
 * every attempt: `https:` (plain `http:` only where the options allow it), no user info, and every address
 * its host resolves to global. Residual risk: `fetch` resolves the name again when it connects, so a DNS
 * server that answers a public address to this check and a private one to the connection (DNS rebinding)
 * passes it; pinning the vetted address is not possible with `fetch` on Vercel or Deno Deploy. Route
 * deliveries through an egress proxy where one exists.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { isGlobalAddress } from "./global-address.ts";

export type Resolver = (host: string) => Promise<readonly string[]>;

export interface EndpointUrlOptions {
  /** Plain http: endpoints (local development only; production refuses the setting). */
  allowHttp: boolean;
  /** Loopback endpoints, for a receiver on the developer's machine (local development only). */
  allowLoopback: boolean;
  resolve: Resolver;
}

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map(({ address }) => address);

export const DEFAULT_ENDPOINT_URL_OPTIONS: EndpointUrlOptions = {
  allowHttp: false,
  allowLoopback: false,
  resolve: systemResolver,
};

/** The rules `config` sets: http: and loopback only where WEBHOOK_LOCAL_ENDPOINTS allows (never production). */
export function endpointUrlOptionsOf(config: { webhookLocalEndpoints: boolean }): EndpointUrlOptions {
  return config.webhookLocalEndpoints
    ? { ...DEFAULT_ENDPOINT_URL_OPTIONS, allowHttp: true, allowLoopback: true }
    : DEFAULT_ENDPOINT_URL_OPTIONS;
}

const isLoopback = (address: string) => /^127\./.test(address) || address === "::1";

/** Undefined when `text` may receive deliveries, else the reason it may not. */
export async function endpointUrlProblem(
  text: string,
  options: EndpointUrlOptions = DEFAULT_ENDPOINT_URL_OPTIONS,
): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowHttp)) return "the URL must be https:";
  if (url.username !== "" || url.password !== "") return "the URL must not hold a user name or password";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: readonly string[];
  try {
    addresses = isIP(host) === 0 ? await options.resolve(host) : [host];
  } catch {
    return "the host name does not resolve";
  }
  if (addresses.length === 0) return "the host name does not resolve";
  for (const address of addresses) {
    if (isGlobalAddress(address) || (options.allowLoopback && isLoopback(address))) continue;
    return `the host resolves to ${address}, which is not a public address`;
  }
  return undefined;
}
