import express from "express";
import { createApp, listen, REALM_HEADER, type RunningServer } from "../../src/http";
import { backupStatusResponseSchema } from "../../src/status";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { NOW, seedDesignExample } from "../status/fixtures";
import {
  ADMIN_ID_TOKEN,
  STATUS_TOKEN,
  captureLogs,
  expectNoSecrets,
  fakeVerifyIdToken,
} from "./helpers";

/**
 * Over real sockets: the app served on loopback as the CLI's `serve` does, and the app called as a
 * plain (req, res) handler behind a server that pre-parses bodies the way the Cloud Functions
 * runtime does before `onRequest` hands it the request (paths arrive as /v1/..., as through the
 * Hosting rewrite). firebase-functions/https itself cannot be loaded under jest (it pulls an
 * ESM-only dependency), so its thin wrapper is not in this test.
 */
describe("HTTP API over real sockets", () => {
  let fs: TestFirestore;
  const logs = captureLogs();
  const texts: string[] = [];

  beforeAll(async () => {
    fs = createTestFirestore("socket");
    await seedDesignExample(fs.db, new Date("2024-01-15T10:00:00Z"));
  });
  afterAll(async () => {
    expectNoSecrets(texts);
    expectNoSecrets(logs.entries.map((e) => JSON.stringify(e)));
    logs.stop();
    await fs.close();
  });

  const deps = () => ({
    db: fs.db,
    status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
    verifyIdToken: fakeVerifyIdToken,
    startManualBackup: () => Promise.resolve({ busy: false as const, runId: "via-function" }),
    now: () => NOW,
  });

  async function fetchText(url: string, init?: RequestInit) {
    const res = await fetch(url, init);
    const body = await res.text();
    texts.push(`${res.status}\n${JSON.stringify([...res.headers])}\n${body}`);
    return { res, body };
  }

  it("serves on 127.0.0.1 (the CLI's serve)", async () => {
    const server: RunningServer = await listen(createApp(deps()));
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const ok = await fetchText(`${server.url}/v1/office-rnd/backup-status`, {
        headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
      });
      expect(ok.res.status).toBe(200);
      const status = backupStatusResponseSchema.parse(JSON.parse(ok.body));
      expect(status.currentStats.members).toEqual({ firestore: 150, api: 150, missing: 0 });

      const denied = await fetchText(`${server.url}/v1/office-rnd/backup-status`);
      expect(denied.res.status).toBe(401);
      expect(denied.res.headers.get("www-authenticate")).toBe(REALM_HEADER);
      expect(JSON.parse(denied.body)).toEqual({
        error: { code: "unauthorized", message: "authorization required: Bearer token" },
      });
    } finally {
      await server.close();
    }
  });

  it("works as the `api` function's handler, with a body the runtime already parsed", async () => {
    const fn = createApp(deps());
    // What the functions framework does before calling the function: parse the body, keep rawBody.
    const runtime = express();
    runtime.use(
      express.json({
        verify: (req, _res, buf) => {
          (req as unknown as { rawBody: Buffer }).rawBody = buf;
        },
      }),
    );
    runtime.use((req, res) => fn(req, res));
    const server = await listen(runtime);
    try {
      const status = await fetchText(`${server.url}/v1/office-rnd/backup-status`, {
        headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
      });
      expect(status.res.status).toBe(200);
      expect(status.res.headers.get("cache-control")).toBe("no-store");
      backupStatusResponseSchema.parse(JSON.parse(status.body));

      const started = await fetchText(`${server.url}/v1/office-rnd/backup`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN_ID_TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "ignored" }),
      });
      expect(started.res.status).toBe(202);
      expect(JSON.parse(started.body)).toEqual({ runId: "via-function" });

      const missing = await fetchText(`${server.url}/v1/nothing`);
      expect(missing.res.status).toBe(404);
      expect(JSON.parse(missing.body)).toEqual({
        error: { code: "not_found", message: "no such route" },
      });
    } finally {
      await server.close();
    }
  });
});
