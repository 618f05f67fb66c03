/**
 * The content type of every JSON answer, success or error envelope: one spelling, so clients and caches see one value.
 */
export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
