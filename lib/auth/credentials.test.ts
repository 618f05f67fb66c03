import { describe, expect, test } from "bun:test";
import { type } from "arktype";
import { loginBody, passwordChangeBody, signupBody } from "./credentials.ts";
import { normaliseEmail, PASSWORD_POLICY, passwordProblem } from "./password-policy.ts";

describe("e-mail addresses", () => {
  test("should be trimmed and lower-cased", () => {
    expect(normaliseEmail("  Alice.Smith@Example.COM\n")).toBe("alice.smith@example.com");
  });

  test("should be normalised by the body schemas and refused when they are not addresses", () => {
    expect(loginBody({ email: " Bob@Example.com ", password: "x" })).toEqual({
      email: "bob@example.com",
      password: "x",
    });
    for (const email of ["bob", "bob@", "@example.com", "bob @example.com", `${"b".repeat(250)}@example.com`, 42]) {
      expect(loginBody({ email, password: "x" })).toBeInstanceOf(type.errors);
    }
  });
});

describe("the password policy", () => {
  const email = "alice@example.com";

  test("should accept 10 to 128 characters, counted as code points", () => {
    expect(passwordProblem("a".repeat(PASSWORD_POLICY.minLength), email)).toBeUndefined();
    expect(passwordProblem("a".repeat(PASSWORD_POLICY.maxLength), email)).toBeUndefined();
    // Ten emoji are ten characters, though twenty UTF-16 units.
    expect(passwordProblem("\u{1F511}".repeat(10), email)).toBeUndefined();
    expect(passwordProblem("\u{1F511}".repeat(9), email)).toBe("must be at least 10 characters");
    expect(passwordProblem("a".repeat(129), email)).toBe("must be at most 128 characters");
  });

  test("should refuse a password of only whitespace, or the account's own address", () => {
    expect(passwordProblem(" \t\n ".repeat(3), email)).toBe("must not be only whitespace");
    expect(passwordProblem(" Alice@Example.com ", email)).toBe("must not be the e-mail address");
  });

  test("should need no digits, symbols or mixed case", () => {
    expect(passwordProblem("correct horse battery staple", email)).toBeUndefined();
  });
});

describe("body schemas", () => {
  test("sign-up should report a policy failure on the password field without echoing it", () => {
    const result = signupBody({ email: "alice@example.com", password: "hunter2" });
    expect(result).toBeInstanceOf(type.errors);
    expect(String(result)).toBe("password must be at least 10 characters");
  });

  test("should refuse unknown keys", () => {
    expect(signupBody({ email: "alice@example.com", password: "correct horse battery", role: "admin" })).toBeInstanceOf(
      type.errors,
    );
    expect(loginBody({ email: "alice@example.com", password: "x", remember: true })).toBeInstanceOf(type.errors);
    expect(passwordChangeBody({ currentPassword: "x", newPassword: "y", userId: "someone" })).toBeInstanceOf(
      type.errors,
    );
  });

  test("login should take any non-empty password up to 1,024 characters, whatever the current policy", () => {
    expect(loginBody({ email: "alice@example.com", password: "short" })).not.toBeInstanceOf(type.errors);
    expect(loginBody({ email: "alice@example.com", password: "" })).toBeInstanceOf(type.errors);
    expect(loginBody({ email: "alice@example.com", password: "a".repeat(1_025) })).toBeInstanceOf(type.errors);
  });
});
