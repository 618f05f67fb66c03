import { describe, expect, test } from "bun:test";
import { resolvePolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import { checkDeclaredBody, mediaTypeOf, readBodyWithin } from "./body-limit.ts";

const policy = resolvePolicy({ access: "public", bodyLimitBytes: 100 }, "POST");
const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
  new Request("http://localhost/things", { method: "POST", body, headers });

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

/** A body of `total` bytes in `chunk`-byte pieces that records how much of it was ever pulled. */
function meteredStream(total: number, chunk: number) {
  const meter = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(chunk, total - meter.pulled);
      if (size <= 0) return controller.close();
      meter.pulled += size;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
    cancel() {
      meter.cancelled = true;
    },
  });
  return { stream, meter };
}

describe("mediaTypeOf", () => {
  test("drops parameters, whitespace and letter case", () => {
    expect(mediaTypeOf("Application/JSON ; charset=utf-8")).toBe("application/json");
    expect(mediaTypeOf("text/plain")).toBe("text/plain");
  });

  test("a missing header has no media type", () => {
    expect(mediaTypeOf(null)).toBeUndefined();
  });
});

describe("checkDeclaredBody", () => {
  test("a request without a body passes whatever its headers", () => {
    expect(codeOf(() => checkDeclaredBody(new Request("http://localhost/things"), policy))).toBeUndefined();
  });

  test("JSON within the limit passes, with or without a charset parameter", () => {
    expect(
      codeOf(() =>
        checkDeclaredBody(post("{}", { "content-type": "application/json", "content-length": "2" }), policy),
      ),
    ).toBeUndefined();
    expect(
      codeOf(() => checkDeclaredBody(post("{}", { "content-type": "application/json; charset=utf-8" }), policy)),
    ).toBeUndefined();
  });

  test("a declared length over the limit is 413 with the limit in details, before anything is read", () => {
    const request = post("{}", { "content-type": "application/json", "content-length": "101" });
    try {
      checkDeclaredBody(request, policy);
      throw new Error("not refused");
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", status: 413, details: { limitBytes: 100 } });
    }
    expect(request.bodyUsed).toBe(false);
  });

  test("a declared length exactly at the limit passes", () => {
    expect(
      codeOf(() =>
        checkDeclaredBody(
          post("x".repeat(100), { "content-type": "application/json", "content-length": "100" }),
          policy,
        ),
      ),
    ).toBeUndefined();
  });

  test.each(["abc", "-1", "1.5", "1e3", "0x10", "+5", "1, 1", "99999999999999999999"])(
    "a Content-Length of %p, not plain digits, is a 400",
    (declared) => {
      expect(
        codeOf(() =>
          checkDeclaredBody(post("{}", { "content-type": "application/json", "content-length": declared }), policy),
        ),
      ).toBe("BAD_REQUEST");
    },
  );

  test("a content type the route does not accept is 415 naming what it accepts", () => {
    try {
      checkDeclaredBody(post("a=b", { "content-type": "application/x-www-form-urlencoded" }), policy);
      throw new Error("not refused");
    } catch (error) {
      expect(error).toMatchObject({
        code: "UNSUPPORTED_MEDIA_TYPE",
        status: 415,
        details: { accepted: ["application/json"] },
      });
    }
  });

  test("a body without any content type is 415", () => {
    expect(codeOf(() => checkDeclaredBody(post(new Uint8Array([123, 125])), policy))).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  test("an empty body declared as Content-Length: 0 needs no content type", () => {
    expect(codeOf(() => checkDeclaredBody(post("", { "content-length": "0" }), policy))).toBeUndefined();
  });

  test("a route that accepts another type gets it, and JSON is then refused", () => {
    const text = resolvePolicy({ access: "public", accepts: ["text/plain"] }, "POST");
    expect(codeOf(() => checkDeclaredBody(post("hello", { "content-type": "text/plain" }), text))).toBeUndefined();
    expect(codeOf(() => checkDeclaredBody(post("{}", { "content-type": "application/json" }), text))).toBe(
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });
});

describe("readBodyWithin", () => {
  test("returns the whole body when it fits, however it is chunked", async () => {
    const { stream } = meteredStream(100, 7);
    const bytes = await readBodyWithin(post(stream), 100);
    expect(bytes.byteLength).toBe(100);
    expect(bytes.every((b) => b === 0x20)).toBe(true);
  });

  test("keeps the bytes in order across chunks", async () => {
    const parts = ['{"a":', '"bc",', '"d":1}'];
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
        controller.close();
      },
    });
    expect(new TextDecoder().decode(await readBodyWithin(post(stream), 100))).toBe(parts.join(""));
  });

  test("a chunked body that passes the limit is 413, and reading stops there instead of draining it", async () => {
    const { stream, meter } = meteredStream(10 * 1024 * 1024, 16 * 1024);
    const error = await rejectionOf(readBodyWithin(post(stream), 64 * 1024));
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(meter.cancelled).toBe(true);
    expect(meter.pulled).toBeLessThan(256 * 1024);
  });

  test("one byte over the limit is refused", async () => {
    expect((await rejectionOf(readBodyWithin(post("x".repeat(101)), 100))).code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("a body whose Content-Length under-declares it is still cut at the limit", async () => {
    const request = post("x".repeat(5000), { "content-type": "application/json", "content-length": "10" });
    expect((await rejectionOf(readBodyWithin(request, 100))).code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("no body reads as zero bytes", async () => {
    expect((await readBodyWithin(new Request("http://localhost/"), 100)).byteLength).toBe(0);
  });
});
