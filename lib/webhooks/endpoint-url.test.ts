import { describe, expect, test } from "bun:test";
import { DEFAULT_ENDPOINT_URL_OPTIONS, endpointUrlProblem, type Resolver } from "./endpoint-url.ts";
import { isGlobalAddress } from "./global-address.ts";

describe("global addresses", () => {
  test("public IPv4 and IPv6 unicast are global", () => {
    for (const address of ["8.8.8.8", "1.1.1.1", "203.0.112.1", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e"])
      expect({ address, global: isGlobalAddress(address) }).toEqual({ address, global: true });
  });

  test("loopback, private, link-local, CGNAT, 0/8, multicast, ULA and embedding forms are not", () => {
    for (const address of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.1.2.3",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:a9fe:a9fe",
      "::127.0.0.1",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1",
      "ff02::1",
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "64:ff9b::7f00:1",
      "64:ff9b::10.0.0.1",
      "2001:db8::1",
      "not an address",
    ])
      expect({ address, global: isGlobalAddress(address) }).toEqual({ address, global: false });
  });

  test("6to4 and NAT64 forms of a public IPv4 address are global", () => {
    expect(isGlobalAddress("2002:0808:0808::1")).toBe(true);
    expect(isGlobalAddress("64:ff9b::8.8.8.8")).toBe(true);
  });
});

describe("endpoint URLs", () => {
  const resolvingTo =
    (...addresses: string[]): Resolver =>
    async () =>
      addresses;
  const check = (url: string, resolve: Resolver = resolvingTo("93.184.216.34"), more = {}) =>
    endpointUrlProblem(url, { ...DEFAULT_ENDPOINT_URL_OPTIONS, resolve, ...more });

  test("an https URL whose host resolves only to public addresses is accepted", async () => {
    expect(await check("https://hooks.example.com/in")).toBeUndefined();
  });

  test("internal targets are refused by literal address and by name", async () => {
    for (const url of [
      "https://127.0.0.1/",
      "https://[::ffff:7f00:1]/",
      "https://169.254.169.254/latest/meta-data",
      "https://10.0.0.1/",
      "https://[fd00::1]/",
    ])
      expect(await check(url)).toStartWith("the host resolves to ");
    expect(await check("https://internal.example.com/", resolvingTo("127.0.0.1"))).toBe(
      "the host resolves to 127.0.0.1, which is not a public address",
    );
    // One private address among public ones is enough to refuse.
    expect(await check("https://mixed.example.com/", resolvingTo("93.184.216.34", "10.1.2.3"))).toBe(
      "the host resolves to 10.1.2.3, which is not a public address",
    );
  });

  test("plain http, user info, a bad URL and a name that does not resolve are refused", async () => {
    expect(await check("http://hooks.example.com/")).toBe("the URL must be https:");
    expect(await check("https://user:pass@hooks.example.com/")).toBe("the URL must not hold a user name or password");
    expect(await check("hooks.example.com")).toBe("not a URL");
    const failing: Resolver = async () => {
      throw new Error("ENOTFOUND");
    };
    expect(await check("https://nowhere.invalid/", failing)).toBe("the host name does not resolve");
  });

  test("local development may allow http and loopback, and nothing else internal", async () => {
    const local = { allowHttp: true, allowLoopback: true };
    expect(await check("http://127.0.0.1:4000/hooks", undefined, local)).toBeUndefined();
    expect(await check("http://10.0.0.1/", undefined, local)).toBe(
      "the host resolves to 10.0.0.1, which is not a public address",
    );
  });
});
