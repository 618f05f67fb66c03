/** What a TOTP secret's ciphertext is bound to: its user, so a sealed secret copied to another row fails to open. */
export const totpSecretRowIdentity = (userId: string) => `user_totp:${userId}`;
