/**
 * The request bodies that carry an e-mail and a password (the rules are password-policy.ts's). Messages never
 * echo the value: a password typed into the wrong field must not come back in a response.
 */
import { type Arktype, lazySchema } from "../core/lazy-schema.ts";
import { MAX_EMAIL_LENGTH, normaliseEmail, passwordProblem } from "./password-policy.ts";

// Login takes any password up to this length: a longer one cannot be ours, and argon2 need not read it.
const MAX_LOGIN_PASSWORD_LENGTH = 1_024;

const emailAddress = ({ type }: Arktype) =>
  type("string").pipe(normaliseEmail).to(`string.email <= ${MAX_EMAIL_LENGTH}`);

export const signupBody = lazySchema((ark) =>
  ark.type({ "+": "reject", email: emailAddress(ark), password: "string" }).narrow((body, ctx) => {
    const problem = passwordProblem(body.password, body.email);
    return problem === undefined || ctx.reject({ path: ["password"], message: `password ${problem}` });
  }),
);

export const loginBody = lazySchema((ark) =>
  ark.type({
    "+": "reject",
    email: emailAddress(ark),
    password: `0 < string <= ${MAX_LOGIN_PASSWORD_LENGTH}`,
  }),
);

/** The new password is checked against the policy once the account's e-mail is known (`passwordProblem`). */
export const passwordChangeBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    currentPassword: `0 < string <= ${MAX_LOGIN_PASSWORD_LENGTH}`,
    newPassword: "string",
  }),
);
