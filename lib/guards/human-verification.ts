/**
 * Human verification while emergency mode is on, on routes that declare `humanVerification: "in-emergency"`:
 * the token a Turnstile or hCaptcha widget gave the client, sent in X-Human-Verification (so no JSON body
 * changes), is checked with the provider's siteverify endpoint. Once configured it fails closed: no token
 * or a refused one is 403 HUMAN_VERIFICATION_REQUIRED, no answer from the provider is 503.
 */
import type { HumanVerificationConfig } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { Logger } from "../log/logger.ts";
import { callDependency } from "../resilience/dependency-call.ts";
import { createOutboundFetch } from "../resilience/outbound-fetch.ts";
import type { SettingsSource } from "../settings/settings.ts";

export const HUMAN_VERIFICATION_HEADER = "x-human-verification";

// Turnstile's tokens are at most 2048 characters, hCaptcha's a few thousand; longer is not a token.
const MAX_TOKEN_LENGTH = 8 * 1024;
// The provider refusing our secret is our fault, not the caller's: answered 503 and logged.
const SECRET_ERRORS = new Set(["missing-input-secret", "invalid-input-secret"]);

interface SiteverifyAnswer {
  success?: unknown;
  "error-codes"?: unknown;
}

/** Resolves or throws when a check is due; returns undefined, having done nothing, when none is. */
export type HumanVerification = (request: Request, clientIp: string) => Promise<void> | undefined;

const unavailable = () =>
  new AppError("DEPENDENCY_UNAVAILABLE", "Human verification is unavailable; try again shortly.", undefined, {
    "retry-after": "1",
  });

// A single address is passed on; an IPv6 /64 key or "unknown" is not one.
const isSingleAddress = (ip: string) => /^[0-9a-f.:]+$/i.test(ip);

/**
 * @param config `config.humanVerification`; undefined turns the guard off.
 * @returns the check the pipeline runs on routes that declare it.
 * @example
 * const verifyHuman = createHumanVerification(config.humanVerification, settings, logger);
 * if (policy.humanVerification === "in-emergency") await verifyHuman(request, clientIp);
 */
export function createHumanVerification(
  config: HumanVerificationConfig | undefined,
  settings: SettingsSource,
  logger: Logger,
): HumanVerification {
  if (config === undefined) return () => undefined;
  const { provider, secret, verifyUrl, timeoutMs } = config;
  const dependency = `human-verification:${provider}`;
  // No retries: a token is spent by the first siteverify that reaches the provider, so a retry after a lost
  // answer would be refused as a duplicate. The breaker still stops calls to a provider that keeps failing.
  const outboundFetch = createOutboundFetch(logger, { timeoutMs, retries: 0 });

  const ask = async (request: Request, token: string, clientIp: string): Promise<SiteverifyAnswer> => {
    const form = new URLSearchParams({ secret, response: token });
    if (isSingleAddress(clientIp)) form.set("remoteip", clientIp);
    try {
      return await callDependency(request, logger, dependency, async (signal) => {
        const response = await outboundFetch(verifyUrl, { method: "POST", body: form, signal });
        if (!response.ok) {
          await response.body?.cancel();
          throw new Error(`siteverify answered ${response.status}`);
        }
        return (await response.json()) as SiteverifyAnswer;
      });
    } catch (error) {
      logger.warn("human verification unavailable", { dependency, error });
      throw unavailable();
    }
  };

  const verify = async (request: Request, token: string, clientIp: string): Promise<void> => {
    const answer = await ask(request, token, clientIp);
    if (answer.success === true) return;
    const errorCodes = Array.isArray(answer["error-codes"])
      ? answer["error-codes"].filter((c): c is string => typeof c === "string")
      : [];
    if (errorCodes.some((code) => SECRET_ERRORS.has(code))) {
      logger.error("human verification secret refused by the provider", { dependency, errorCodes });
      throw unavailable();
    }
    throw new AppError(
      "HUMAN_VERIFICATION_REQUIRED",
      "The human-verification token was not accepted; solve the challenge again.",
      { errorCodes },
    );
  };

  return (request, clientIp) => {
    if (!settings.current().emergency.enabled) return undefined;
    const token = request.headers.get(HUMAN_VERIFICATION_HEADER);
    if (token === null || token === "" || token.length > MAX_TOKEN_LENGTH)
      throw new AppError("HUMAN_VERIFICATION_REQUIRED");
    return verify(request, token, clientIp);
  };
}
