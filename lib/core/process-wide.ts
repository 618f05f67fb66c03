/**
 * State that must stay one per process although `bun --hot` evaluates its module again on every reload:
 * kept on globalThis under a registered symbol, so the reloaded copy finds what the running pipeline uses.
 */
export function processWide<T>(name: string, create: () => T): T {
  const holder = globalThis as unknown as Record<symbol, T | undefined>;
  return (holder[Symbol.for(`rampart.${name}`)] ??= create());
}
