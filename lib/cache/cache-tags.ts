/**
 * The tags cached reads are filed under and writes purge (lib/cache/purge-tags.ts): one place, so a route and
 * the writes that change its answer cannot spell a tag differently.
 */

/** The public signing keys (GET /.well-known/jwks.json). */
export const JWKS_TAG = "jwks";
/** The status page's data (GET /status/data.json). */
export const STATUS_TAG = "status";

/** The organization's own record. */
export const orgTag = (orgId: string): string => `org:${orgId}`;
export const orgMembersTag = (orgId: string): string => `org:${orgId}:members`;
export const orgKeysTag = (orgId: string): string => `org:${orgId}:keys`;
/** Every audit query of the organization: any write that records an event for it purges this one. */
export const orgAuditTag = (orgId: string): string => `org:${orgId}:audit`;

/**
 * Every cached answer is also filed under its path, so an operator can purge what one URL answers (every
 * caller's entry and the CDN's copy) without knowing its tags.
 */
export const pathTag = (path: string): string => `path:${path}`;
