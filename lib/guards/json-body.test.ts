import { describe, expect, test } from "bun:test";
import { AppError } from "../errors/app-error.ts";
import { parseJsonBody } from "./json-body.ts";

const bytesOf = (text: string) => new TextEncoder().encode(text);

function refusal(bytes: Uint8Array): AppError {
  try {
    parseJsonBody(bytes);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("the body was accepted");
}

describe("parseJsonBody", () => {
  test("parses a well-formed body, unicode and all", () => {
    expect(parseJsonBody(bytesOf('{"name":"Zoë 日本","tags":["a",{"b":null}],"n":-1.5e3}'))).toEqual({
      name: "Zoë 日本",
      tags: ["a", { b: null }],
      n: -1500,
    });
  });

  test("a top-level scalar or array is valid JSON too (the schema decides what it wants)", () => {
    expect(parseJsonBody(bytesOf("[1,2]"))).toEqual([1, 2]);
    expect(parseJsonBody(bytesOf(" 42 "))).toBe(42);
  });

  test("a UTF-8 byte order mark is tolerated", () => {
    expect(parseJsonBody(new Uint8Array([0xef, 0xbb, 0xbf, ...bytesOf('{"a":1}')]))).toEqual({ a: 1 });
  });

  describe("keys that could reach a prototype are refused with 400 BAD_REQUEST", () => {
    test.each([
      ["__proto__ at the top", '{"__proto__":{"isAdmin":true}}', "__proto__"],
      ["constructor at the top", '{"constructor":{"prototype":{"isAdmin":true}}}', "prototype"],
      ["prototype at the top", '{"prototype":1}', "prototype"],
      ["__proto__ nested deep", '{"a":{"b":{"c":[{"d":{"__proto__":{}}}]}}}', "__proto__"],
      ["constructor inside an array", '[1,{"constructor":"x"}]', "constructor"],
      ["__proto__ with a null value", '{"ok":1,"__proto__":null}', "__proto__"],
      ["__proto__ written with a unicode escape", '{"\\u005f_proto__":{"isAdmin":true}}', "__proto__"],
      [
        "constructor written entirely in escapes",
        '{"\\u0063\\u006f\\u006e\\u0073\\u0074\\u0072\\u0075\\u0063\\u0074\\u006f\\u0072":1}',
        "constructor",
      ],
      ["prototype with an escaped letter, nested", '{"x":{"pr\\u006ftotype":1}}', "prototype"],
      ["a duplicate key that is __proto__ the second time", '{"a":1,"a":{"__proto__":1}}', "__proto__"],
    ])("%s", (_, body, key) => {
      const error = refusal(bytesOf(body));
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.status).toBe(400);
      expect(error.message).toBe(`The key "${key}" is not allowed in a JSON body.`);
    });

    test("Object.prototype is untouched after a refused body", () => {
      refusal(bytesOf('{"__proto__":{"polluted":true}}'));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    test("keys that merely contain those words are fine", () => {
      expect(parseJsonBody(bytesOf('{"__proto":1,"my_constructor":2,"prototypes":3,"Constructor":4}'))).toEqual({
        __proto: 1,
        my_constructor: 2,
        prototypes: 3,
        Constructor: 4,
      });
    });

    test("the words as values, not keys, are fine", () => {
      expect(parseJsonBody(bytesOf('{"name":"__proto__","list":["constructor"]}'))).toEqual({
        name: "__proto__",
        list: ["constructor"],
      });
    });
  });

  test("NUL in a string or a key, at any depth, is 400 BAD_REQUEST: PostgreSQL cannot store it", () => {
    for (const body of ['{"name":"a\\u0000b"}', '{"a":{"b":["x","\\u0000"]}}', '{"na\\u0000me":1}']) {
      expect(refusal(bytesOf(body)).code).toBe("BAD_REQUEST");
    }
    expect(parseJsonBody(bytesOf('{"name":"a\\\\u0000b"}'))).toEqual({ name: "a\\u0000b" });
  });

  test(
    "a lone UTF-16 surrogate in a string or a key, at any depth, is 400 " + "BAD_REQUEST: PostgreSQL cannot store it",
    () => {
      for (const body of [
        '{"name":"\\ud800"}',
        '{"name":"a\\uDFFFb"}',
        '{"a":{"b":["x","\\udc00\\ud800"]}}',
        '{"na\\uDBFFme":1}',
        '"\\ud83d"',
      ]) {
        const error = refusal(bytesOf(body));
        expect({ body, code: error.code, message: error.message }).toEqual({
          body,
          code: "BAD_REQUEST",
          message: "Text in a JSON body may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF).",
        });
      }
      // A pair written as escapes is one character; an escaped backslash before "ud800" is no escape at all.
      expect(parseJsonBody(bytesOf('{"emoji":"\\ud83d\\ude00","text":"a\\\\ud800"}'))).toEqual({
        emoji: "😀",
        text: "a\\ud800",
      });
    },
  );

  describe("anything that is not strict JSON in UTF-8 is 400 INVALID_JSON", () => {
    test.each([
      ["a truncated object", '{"a":'],
      ["a trailing comma", '{"a":1,}'],
      ["single quotes", "{'a':1}"],
      ["an unquoted key", "{a:1}"],
      ["a comment", '{"a":1 /* hi */}'],
      ["NaN", '{"a":NaN}'],
      ["two documents", '{"a":1}{"b":2}'],
      ["a raw control character inside a string", '{"a":"\u0001"}'],
    ])("%s", (_, body) => {
      expect(refusal(bytesOf(body)).code).toBe("INVALID_JSON");
    });

    test.each([
      ["a lone continuation byte", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]],
      ["an overlong encoding of '/'", [0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]],
      ["a truncated multi-byte sequence", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe6, 0x97, 0x22, 0x7d]],
      ["an encoded surrogate", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]],
      ["a byte that is never UTF-8", [0x7b, 0xff, 0x7d]],
      ["UTF-16 with a byte order mark", [0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]],
    ])("invalid UTF-8: %s", (_, bytes) => {
      const error = refusal(new Uint8Array(bytes));
      expect(error.code).toBe("INVALID_JSON");
      expect(error.message).toBe("The request body is not valid UTF-8.");
    });

    test.each([
      ["no bytes", ""],
      ["whitespace only", " \r\n\t "],
    ])("an empty body: %s", (_, body) => {
      const error = refusal(bytesOf(body));
      expect(error.code).toBe("INVALID_JSON");
      expect(error.message).toBe("The request body is empty.");
    });

    test("nesting deep enough to exhaust the stack is refused, not a crash", () => {
      const depth = 200_000;
      expect(refusal(bytesOf("[".repeat(depth) + "]".repeat(depth))).code).toBe("INVALID_JSON");
      expect(refusal(bytesOf(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`)).code).toBe("INVALID_JSON");
    });
  });
});
