/** Baseline: bare Elysia on Bun, the same route and body, no guards. */
import { Elysia } from "elysia";

const app = new Elysia().get("/v1/ping", () => ({ ok: true, time: Date.now() }));
Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: app.fetch });
// Exit normally on SIGTERM so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
