/** The part of `oidc-provider` (which ships no types) the local test provider uses. */
declare module "oidc-provider" {
  import type { Server } from "node:http";

  interface Account {
    accountId: string;
    claims(): Record<string, unknown>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    listen(port: number, host: string): Server;
    use(middleware: (ctx: { path: string; body: unknown }, next: () => Promise<void>) => Promise<void>): void;
    readonly IdToken: { prototype: { issue(...args: unknown[]): Promise<string> } };
    readonly Client: { find(clientId: string): Promise<unknown> };
  }
  export type FindAccount = (ctx: unknown, sub: string) => Account | undefined;
}
