import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config/config.ts";
import { createClientIpResolver, normaliseClientAddress, UNKNOWN_CLIENT } from "./client-ip.ts";

const trust = (value: string) => loadConfig({ NODE_ENV: "test", TRUST_PROXY: value }).trustProxy;
const requestWith = (headers: Record<string, string>) => new Request("http://localhost/", { headers });

describe("normaliseClientAddress", () => {
  test("IPv4 is kept as it is", () => {
    expect(normaliseClientAddress("203.0.113.7")).toBe("203.0.113.7");
    expect(normaliseClientAddress(" 203.0.113.7 ")).toBe("203.0.113.7");
  });

  test("IPv4-mapped IPv6 counts as the IPv4 address, in every spelling", () => {
    for (const mapped of [
      "::ffff:1.2.3.4",
      "::FFFF:1.2.3.4",
      "[::ffff:1.2.3.4]",
      "::ffff:102:304",
      "0:0:0:0:0:ffff:0102:0304",
    ]) {
      expect(normaliseClientAddress(mapped)).toBe("1.2.3.4");
    }
  });

  test("IPv6 clients are keyed by their /64, so rotating the interface id does not escape a limit", () => {
    const key = normaliseClientAddress("2001:db8:1:2:3:4:5:6");
    expect(key).toBe("2001:db8:1:2::/64");
    for (const sibling of [
      "2001:db8:1:2::1",
      "2001:DB8:1:2:ffff:ffff:ffff:ffff",
      "[2001:db8:1:2::9]",
      "2001:db8:1:2::1%eth0",
      "2001:0db8:0001:0002::7",
    ]) {
      expect(normaliseClientAddress(sibling)).toBe(key);
    }
    expect(normaliseClientAddress("2001:db8:1:3::1")).not.toBe(key);
  });

  test("compressed zero groups anywhere in the address expand to the same key", () => {
    expect(normaliseClientAddress("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(normaliseClientAddress("2001:db8:0:0:1::")).toBe("2001:db8:0:0::/64");
    expect(normaliseClientAddress("::1")).toBe("0:0:0:0::/64");
  });

  test("an IPv6 address ending in a dotted quad is read as its two last groups", () => {
    expect(normaliseClientAddress("2001:db8:1:2::1.2.3.4")).toBe("2001:db8:1:2::/64");
    expect(normaliseClientAddress("0:0:0:0:0:ffff:1.2.3.4")).toBe("1.2.3.4");
  });

  test.each([
    ["empty", ""],
    ["a word", "unknown"],
    ["a host name", "example.com"],
    ["an octet over 255", "1.2.3.256"],
    ["three octets", "1.2.3"],
    ["five octets", "1.2.3.4.5"],
    ["a leading zero (octal ambiguity)", "01.2.3.4"],
    ["a port", "1.2.3.4:8080"],
    ["a CIDR suffix", "1.2.3.0/24"],
    ["two :: gaps", "1::2::3"],
    ["nine groups", "1:2:3:4:5:6:7:8:9"],
    ["seven groups without a gap", "1:2:3:4:5:6:7"],
    ["a group over ffff", "12345::1"],
    ["a non-hex group", "2001:db8::g"],
    ["hex with trailing junk", "2001:db8:1:2:3:4:5:6zz"],
    ["a signed group", "2001:db8::+1"],
    ["a 0x-prefixed group", "2001:db8::0x1"],
    ["a mapped address with a bad octet", "::ffff:999.1.1.1"],
    ["a dotted quad in the middle", "2001:1.2.3.4::1"],
    ["a comma list", "1.2.3.4, 5.6.7.8"],
    ["script", "<script>alert(1)</script>"],
  ])("refuses %s", (_, raw) => {
    expect(normaliseClientAddress(raw)).toBeUndefined();
  });
});

describe("createClientIpResolver", () => {
  describe("TRUST_PROXY=none", () => {
    const resolve = createClientIpResolver(trust("none"));

    test("the connection's address is the client, and a spoofed X-Forwarded-For is ignored", () => {
      const spoofed = requestWith({
        "x-forwarded-for": "198.51.100.1",
        "x-real-ip": "198.51.100.2",
        "x-vercel-forwarded-for": "198.51.100.3",
      });
      expect(resolve(spoofed, "203.0.113.7")).toBe("203.0.113.7");
    });

    test("a mapped IPv6 socket address counts as IPv4, a native one by /64", () => {
      expect(resolve(requestWith({}), "::ffff:203.0.113.7")).toBe("203.0.113.7");
      expect(resolve(requestWith({}), "2001:db8:aa:bb::1")).toBe("2001:db8:aa:bb::/64");
    });

    test("with no socket address the client is unknown, whatever the headers say", () => {
      expect(resolve(requestWith({ "x-forwarded-for": "198.51.100.1" }), undefined)).toBe(UNKNOWN_CLIENT);
    });
  });

  describe("TRUST_PROXY=vercel", () => {
    const resolve = createClientIpResolver(trust("vercel"));

    test("x-vercel-forwarded-for wins, first entry, and X-Forwarded-For is ignored", () => {
      const request = requestWith({
        "x-vercel-forwarded-for": "198.51.100.9, 10.0.0.1",
        "x-real-ip": "198.51.100.2",
        "x-forwarded-for": "1.1.1.1",
      });
      expect(resolve(request, "10.0.0.1")).toBe("198.51.100.9");
    });

    test("x-real-ip is used when Vercel's own header is missing", () => {
      expect(resolve(requestWith({ "x-real-ip": "::ffff:198.51.100.2" }), "10.0.0.1")).toBe("198.51.100.2");
    });

    test("with neither header, the socket address is used", () => {
      expect(resolve(requestWith({ "x-forwarded-for": "1.1.1.1" }), "10.0.0.1")).toBe("10.0.0.1");
    });
  });

  describe("TRUST_PROXY=N hops", () => {
    test(
      "one hop: the last X-Forwarded-For entry, appended by our proxy, is " +
        "the client; earlier ones are the client's own claims",
      () => {
        const resolve = createClientIpResolver(trust("1"));
        expect(resolve(requestWith({ "x-forwarded-for": "6.6.6.6, 198.51.100.1" }), "10.0.0.1")).toBe("198.51.100.1");
        expect(resolve(requestWith({ "x-forwarded-for": "7.7.7.7, 198.51.100.1" }), "10.0.0.1")).toBe("198.51.100.1");
      },
    );

    test("two hops: the entry the outer proxy appended, not the one the inner proxy appended", () => {
      const resolve = createClientIpResolver(trust("2"));
      expect(resolve(requestWith({ "x-forwarded-for": "6.6.6.6,198.51.100.1 , 10.0.0.5" }), "10.0.0.1")).toBe(
        "198.51.100.1",
      );
    });

    test("empty entries do not shift the count", () => {
      const resolve = createClientIpResolver(trust("2"));
      expect(resolve(requestWith({ "x-forwarded-for": "198.51.100.1,, 10.0.0.5," }), "10.0.0.1")).toBe("198.51.100.1");
    });

    test("fewer entries than hops falls back to the connection's address", () => {
      const resolve = createClientIpResolver(trust("3"));
      expect(resolve(requestWith({ "x-forwarded-for": "198.51.100.1, 10.0.0.5" }), "10.0.0.1")).toBe("10.0.0.1");
      expect(resolve(requestWith({}), "10.0.0.1")).toBe("10.0.0.1");
    });

    test("the hop address is normalised like any other: mapped IPv4 and IPv6 /64", () => {
      const resolve = createClientIpResolver(trust("1"));
      expect(resolve(requestWith({ "x-forwarded-for": "::ffff:198.51.100.1" }), "10.0.0.1")).toBe("198.51.100.1");
      expect(resolve(requestWith({ "x-forwarded-for": "[2001:db8:5:6::1]" }), "10.0.0.1")).toBe("2001:db8:5:6::/64");
    });
  });

  describe("garbage in a believed header", () => {
    test.each(["not-an-ip", "1.2.3.999", "<script>", "2001:db8::zz", "", "   "])(
      "%p falls back to the connection's address, normalised",
      (garbage) => {
        for (const model of ["1", "vercel"]) {
          const resolve = createClientIpResolver(trust(model));
          const headers = { "x-forwarded-for": garbage, "x-vercel-forwarded-for": garbage };
          expect(resolve(requestWith(headers), "::ffff:10.0.0.1")).toBe("10.0.0.1");
          expect(resolve(requestWith(headers), undefined)).toBe(UNKNOWN_CLIENT);
        }
      },
    );
  });
});
