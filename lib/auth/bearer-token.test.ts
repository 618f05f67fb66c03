import { expect, test } from "bun:test";
import { bearerTokenOf } from "./bearer-token.ts";

const withAuthorization = (authorization?: string) =>
  new Request("http://localhost/", { headers: authorization === undefined ? {} : { authorization } });

test("returns the credential after Bearer, without the spaces around it", () => {
  expect(bearerTokenOf(withAuthorization("Bearer abc.def"))).toBe("abc.def");
  expect(bearerTokenOf(withAuthorization("Bearer   abc.def  "))).toBe("abc.def");
});

test("returns an empty token for a missing header or another scheme", () => {
  for (const authorization of [undefined, "", "Bearer", "Basic abc", "bearerabc", "abc"]) {
    expect(bearerTokenOf(withAuthorization(authorization))).toBe("");
  }
});
