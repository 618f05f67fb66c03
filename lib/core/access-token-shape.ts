/** A compact JWS: three base64url parts, the header a JSON object ("eyJ" is `{"` encoded). */
export const ACCESS_TOKEN_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
