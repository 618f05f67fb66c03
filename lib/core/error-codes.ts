/** The stable table of error codes: each with its HTTP status and default message. */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, message: "The request is malformed." },
  INVALID_JSON: { status: 400, message: "The request body is not valid JSON." },
  OIDC_STATE_INVALID: {
    status: 400,
    message: "This sign-in is unknown, expired, already used or from another browser; start it again.",
  },
  VALIDATION_FAILED: { status: 422, message: "The request does not match the expected schema." },
  UNAUTHORIZED: { status: 401, message: "Authentication is required." },
  TOKEN_REUSED: { status: 401, message: "This refresh token was already used; the session has been revoked." },
  OIDC_SIGN_IN_FAILED: {
    status: 401,
    message: "The identity provider refused the sign-in, or its answer could not be verified; start it again.",
  },
  TOKEN_INVALID: {
    status: 400,
    message: "This link is not valid: it may have been used or have expired. Ask for a new one.",
  },
  EMAIL_NOT_VERIFIED: { status: 403, message: "Confirm your e-mail address first, through the link sent to it." },
  FORBIDDEN: { status: 403, message: "You are not allowed to do this." },
  IP_BLOCKED: { status: 403, message: "Requests from this address are blocked." },
  HUMAN_VERIFICATION_REQUIRED: {
    status: 403,
    message: "Solve the human-verification challenge and send its token in the X-Human-Verification header.",
  },
  REAUTHENTICATION_REQUIRED: {
    status: 403,
    message: "This action needs a recent sign-in: confirm it at POST /v1/auth/reauthenticate, then retry.",
  },
  NOT_FOUND: { status: 404, message: "No such resource." },
  METHOD_NOT_ALLOWED: { status: 405, message: "This method is not allowed on this resource." },
  CONFLICT: { status: 409, message: "The request conflicts with the current state." },
  OIDC_EMAIL_UNVERIFIED: {
    status: 409,
    message:
      "An account with this e-mail address exists; it is linked only when both the provider and the account " +
      "have the address verified. Sign in with the password instead.",
  },
  QUOTA_EXCEEDED: { status: 409, message: "The organization's storage quota would be exceeded." },
  UPLOAD_NOT_RECEIVED: { status: 409, message: "The file has not been uploaded yet." },
  GONE: {
    status: 410,
    message: "This endpoint was retired at its sunset date; see the Link header of its last answers.",
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large." },
  UPLOAD_TOO_LARGE: { status: 413, message: "The file is larger than its type allows." },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "The content type is not supported." },
  UPLOAD_TYPE_NOT_ALLOWED: { status: 415, message: "Files of this type are not accepted." },
  UPLOAD_SIZE_MISMATCH: { status: 422, message: "The uploaded file's size differs from the declared size." },
  UPLOAD_DIGEST_MISMATCH: { status: 422, message: "The uploaded file's SHA-256 differs from the declared one." },
  UPLOAD_TYPE_MISMATCH: { status: 422, message: "The uploaded file's content is not of its declared type." },
  MFA_CODE_INVALID: { status: 401, message: "The code is wrong, expired or already used." },
  MFA_LOCKED: { status: 429, message: "Too many wrong codes for this account; try again later." },
  RATE_LIMITED: { status: 429, message: "Too many requests." },
  USAGE_EXCEEDED: { status: 429, message: "This API key has no usage credits left." },
  INTERNAL: { status: 500, message: "An unexpected error occurred." },
  DEPENDENCY_UNAVAILABLE: { status: 503, message: "A dependency is unavailable." },
  SHUTTING_DOWN: { status: 503, message: "The server is shutting down." },
  SIGNING_KEY_UNAVAILABLE: {
    status: 503,
    message: "Tokens cannot be issued: the signing key cannot be decrypted with the configured keys.",
  },
  TIMEOUT: { status: 504, message: "The request took too long." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
