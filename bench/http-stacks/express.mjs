/**
 * Express 5 on Node: helmet, cors for one origin, express-rate-limit (its in-memory store), a request
 * id like Rampart's and a JSON request log line written through a buffered fs stream to /dev/null.
 * ETag is off: hashing every body is work no other stack does (Rampart's API answers carry no ETag).
 */
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import cors from "cors";
import express from "express";
import { rateLimit } from "express-rate-limit";
import helmet from "helmet";

const log = process.env.BENCH_LOG_SINK === "none" ? undefined : createWriteStream("/dev/null");
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

const app = express();
app.set("etag", false);
app.use((req, res, next) => {
  const startedAt = performance.now();
  const sent = req.get("x-request-id");
  const requestId = sent !== undefined && WELL_FORMED_REQUEST_ID.test(sent) ? sent : randomUUID();
  res.set("x-request-id", requestId);
  res.on("finish", () => {
    log?.write(
      `${JSON.stringify({
        level: "info",
        time: new Date().toISOString(),
        msg: "request",
        requestId,
        method: req.method,
        route: req.route?.path ?? req.path,
        status: res.statusCode,
        durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
        ip: req.ip,
      })}\n`,
    );
  });
  next();
});
app.use(helmet());
app.use(cors({ origin: ["https://app.example.com"] }));
app.use(rateLimit({ windowMs: 60_000, limit: 1e9, standardHeaders: "draft-6", legacyHeaders: false }));
app.get("/v1/ping", (_req, res) => {
  res.json({ ok: true, time: Date.now() });
});

app.listen(Number(process.env.PORT), "127.0.0.1");
