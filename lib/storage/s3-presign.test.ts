/**
 * Presigned URLs checked on the URL itself: the S3 stand-ins do not verify SigV4, so what S3 and R2 would
 * enforce (signed headers, expiry) is asserted here, and the signer against AWS's published example.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import { S3Storage, type S3StorageOptions } from "./s3-storage.ts";

const quiet = createLogger({ sink: () => {} });
const storageWith = (options: Partial<S3StorageOptions>) =>
  new S3Storage(
    {
      endpoint: "https://example-account.r2.cloudflarestorage.com",
      region: "auto",
      bucket: "uploads",
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      pathStyle: true,
      timeoutMs: 1_000,
      ...options,
    },
    createBreaker("storage", quiet),
  );

test("the signer reproduces AWS's presigned GET example (SigV4 query-string authentication)", async () => {
  // docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, "An example".
  const storage = storageWith({
    endpoint: "https://s3.amazonaws.com",
    region: "us-east-1",
    bucket: "examplebucket",
    pathStyle: false,
    datetime: () => "20130524T000000Z",
  });
  const url = new URL(await storage.presign("GET", "test.txt", { expiresInSeconds: 86_400 }));
  expect(url.origin + url.pathname).toBe("https://examplebucket.s3.amazonaws.com/test.txt");
  expect(url.searchParams.get("X-Amz-Credential")).toBe("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
  expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
  expect(url.searchParams.get("X-Amz-Signature")).toBe(
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
  );
});

test("a presigned PUT signs content-type, content-length and the checksum, for at most 300 s", async () => {
  const key = `orgs/${crypto.randomUUID()}/${"ab".repeat(32)}`;
  const put = await storageWith({}).presignPut(key, {
    contentType: "image/png",
    size: 1234,
    sha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    expiresInSeconds: 300,
  });
  const url = new URL(put.url);
  expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;content-type;host;x-amz-checksum-sha256");
  expect(Number(url.searchParams.get("X-Amz-Expires"))).toBeLessThanOrEqual(300);
  expect(url.pathname).toMatch(/^\/uploads\/orgs\/[0-9a-f-]{36}\/[0-9a-f]{64}$/);
  expect(put.headers).toEqual({
    "content-type": "image/png",
    "content-length": "1234",
    "x-amz-checksum-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
  });
});

test("a different type, length or digest changes the signature a PUT must match", async () => {
  const storage = storageWith({ datetime: () => "20261204T060000Z" });
  const options = { contentType: "image/png", size: 10, sha256: `${"A".repeat(43)}=`, expiresInSeconds: 300 };
  const signatureOf = async (changes: Partial<typeof options>) =>
    new URL((await storage.presignPut("orgs/x/y", { ...options, ...changes })).url).searchParams.get("X-Amz-Signature");
  const base = await signatureOf({});
  expect(await signatureOf({ contentType: "text/html" })).not.toBe(base);
  expect(await signatureOf({ size: 11 })).not.toBe(base);
  expect(await signatureOf({ sha256: `${"B".repeat(43)}=` })).not.toBe(base);
  expect(await signatureOf({})).toBe(base);
});

test("a presigned GET forces the attachment disposition and the stored type into the signed URL", async () => {
  const url = new URL(
    await storageWith({}).presignGet("orgs/x/y", {
      contentType: "image/gif",
      filename: "résumé <1>.gif",
      expiresInSeconds: 300,
    }),
  );
  expect(url.searchParams.get("response-content-type")).toBe("image/gif");
  expect(url.searchParams.get("response-content-disposition")).toBe(
    `attachment; filename="r_sum_ <1>.gif"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%3C1%3E.gif`,
  );
  expect(Number(url.searchParams.get("X-Amz-Expires"))).toBeLessThanOrEqual(300);
});
