/**
 * An organization's files: reserve an upload, PUT the bytes straight to object storage with the URL it answers,
 * complete it (checked, or deleted and refused); small files may come through the API instead. Downloads are
 * presigned URLs on the store's own origin: no file is ever served from the API's.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perKey, perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import {
  completeUpload,
  DEFAULT_UPLOAD_OPTIONS,
  deleteUpload,
  downloadUpload,
  reserveUpload,
  type UploadOptions,
  uploadDirect,
} from "../lib/uploads/upload-flow.ts";
import { listUploadRows, uploadView } from "../lib/uploads/upload-records.ts";
import { assertUploadTypes } from "../lib/uploads/upload-types.ts";

/** Files sent through the API rather than to a presigned URL: small enough for a request body. */
export const DIRECT_UPLOAD_MAX_BYTES = 1024 * 1024;

const READS = [perUser(300, "1m"), perKey(600, "1m")];
const WRITES = [perUser(60, "1m"), perKey(120, "1m")];
// Filenames are only ever shown back (Content-Disposition): no control characters, no path.
const FILENAME = /^[^\p{Cc}/\\]{1,255}$/u;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const uploadParams = lazySchema(({ type }) => type({ orgId: "string.uuid", uploadId: "string.uuid" }));
const reserveBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    filename: FILENAME,
    contentType: "1 <= string <= 255",
    size: "1 <= number.integer <= 9007199254740991",
    // Base64 of the 32-byte digest, as S3's x-amz-checksum-sha256 takes it.
    sha256: /^[A-Za-z0-9+/]{43}=$/,
  }),
);
const directQuery = lazySchema(({ type }) => type({ "+": "reject", filename: FILENAME }));

export function uploadRoutes(options: Partial<UploadOptions> = {}): RouteGroup {
  const settings = { ...DEFAULT_UPLOAD_OPTIONS, ...options };
  assertUploadTypes(settings.types);
  const directTypes = Object.keys(settings.types);
  return defineRouteGroup("uploads", (runtime) =>
    new Elysia({ name: "uploads" })
      .use(policyPlugin)
      .post(
        "/v1/orgs/:orgId/uploads",
        async ({ body, caller, org, request, set }) => {
          const reserved = await reserveUpload(runtime, org.id, auditActorOf(caller), body, request, settings);
          set.status = 201;
          return reserved;
        },
        {
          userOrKey: { ...WRITE, scopes: ["uploads:write"], rateLimits: WRITES },
          org: "orgId",
          params: orgParams,
          body: reserveBody,
        },
      )
      .post(
        "/v1/orgs/:orgId/uploads/direct",
        async ({ body, caller, org, query, request, set }) => {
          const file = {
            filename: query.filename,
            contentType: request.headers.get("content-type") ?? "",
            bytes: body as Uint8Array<ArrayBuffer>,
          };
          const upload = await uploadDirect(runtime, org.id, auditActorOf(caller), file, request, settings);
          set.status = 201;
          return upload;
        },
        {
          userOrKey: {
            body: "raw",
            accepts: directTypes,
            bodyLimitBytes: DIRECT_UPLOAD_MAX_BYTES,
            timeout: "write",
            scopes: ["uploads:write"],
            rateLimits: WRITES,
          },
          org: "orgId",
          params: orgParams,
          query: directQuery,
        },
      )
      .post(
        "/v1/orgs/:orgId/uploads/:uploadId/complete",
        ({ caller, org, params, request }) =>
          completeUpload(runtime, org.id, params.uploadId, auditActorOf(caller), request),
        {
          userOrKey: { ...WRITE_NO_BODY, scopes: ["uploads:write"], rateLimits: WRITES },
          org: "orgId",
          params: uploadParams,
        },
      )
      .get(
        "/v1/orgs/:orgId/uploads",
        async ({ org }) => ({ uploads: (await listUploadRows(runtime.db.primary, org.id, 100)).map(uploadView) }),
        { userOrKey: { ...READ, scopes: ["uploads:read"], rateLimits: READS }, org: "orgId", params: orgParams },
      )
      .get(
        "/v1/orgs/:orgId/uploads/:uploadId/download",
        ({ org, params }) => downloadUpload(runtime, org.id, params.uploadId, settings),
        { userOrKey: { ...READ, scopes: ["uploads:read"], rateLimits: READS }, org: "orgId", params: uploadParams },
      )
      .delete(
        "/v1/orgs/:orgId/uploads/:uploadId",
        async ({ caller, org, params, request, set }) => {
          await deleteUpload(runtime, org.id, params.uploadId, auditActorOf(caller), request);
          set.status = 204;
        },
        {
          userOrKey: { ...WRITE_NO_BODY, scopes: ["uploads:write"], rateLimits: WRITES },
          org: "orgId",
          params: uploadParams,
        },
      ),
  );
}

export default uploadRoutes();
