import express, { type Express } from "express";
import request from "supertest";
import { createApp, REALM_HEADER, type ManualBackupStarter } from "../../src/http";
import {
  backupRunsResponseSchema,
  backupStatusResponseSchema,
  type BackupStatusResponse,
} from "../../src/status";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { NOW, hoursBefore, makeRun, seedDesignExample, writeRuns } from "../status/fixtures";
import {
  ADMIN_ID_TOKEN,
  EXPIRED_ID_TOKEN,
  FORGED_ID_TOKEN,
  STATUS_TOKEN,
  UNCHECKABLE_ID_TOKEN,
  USER_ID_TOKEN,
  bearer,
  captureLogs,
  expectNoSecrets,
  fakeVerifyIdToken,
  responseText,
} from "./helpers";
import type { LogEntry } from "../../src/logs";

const STATUS = "/v1/office-rnd/backup-status";
const BACKUPS = "/v1/office-rnd/backups";
const START = "/v1/office-rnd/backup";

describe("HTTP API (real app, real Firestore emulator)", () => {
  let fs: TestFirestore;
  let app: Express;
  const logs = captureLogs();
  /** Every response of this file, for the no-secrets check at the end. */
  const seen: string[] = [];
  const starts: { trigger: string; requestedBy: string }[] = [];
  let nextStart: Awaited<ReturnType<ManualBackupStarter>> | Error = { busy: false, runId: "r-1" };

  const startManualBackup: ManualBackupStarter = (trigger, context) => {
    starts.push({ trigger, requestedBy: context.requestedBy });
    return nextStart instanceof Error ? Promise.reject(nextStart) : Promise.resolve(nextStart);
  };

  function makeApp(db = fs.db, withStarter = true): Express {
    return createApp({
      db,
      status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
      verifyIdToken: fakeVerifyIdToken,
      ...(withStarter ? { startManualBackup } : {}),
      now: () => NOW,
    });
  }

  async function call(test: request.Test): Promise<request.Response> {
    const res = await test;
    seen.push(responseText(res));
    return res;
  }

  beforeAll(() => {
    fs = createTestFirestore("http");
    app = makeApp();
  });
  afterAll(async () => {
    // No token, in any response or any log line of the whole file.
    expect(seen.length).toBeGreaterThan(30);
    expectNoSecrets(seen);
    expectNoSecrets(logs.entries.map((e) => JSON.stringify(e)));
    logs.stop();
    await fs.close();
  });

  function expectJsonError(res: request.Response, status: number, code: string): void {
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: expect.objectContaining({ code }) as unknown });
    const error = (res.body as { error: { message: unknown } }).error;
    expect(typeof error.message).toBe("string");
    expect(res.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  }

  /** A 500 says only "internal error" and its request id; returns the log entry with the cause. */
  function expectInternalError(res: request.Response): LogEntry | undefined {
    expect(res.body).toEqual({
      error: {
        code: "internal",
        message: "internal error",
        requestId: res.headers["x-request-id"] as string,
      },
    });
    return logs.entries.find(
      (e) => e.event === "http_error" && e.requestId === res.headers["x-request-id"],
    );
  }

  describe("GET /v1/office-rnd/backup-status", () => {
    it("before any run: 200, never_run, the schema's exact shape", async () => {
      const res = await call(request(app).get(STATUS).set(bearer(STATUS_TOKEN)));
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      const body = backupStatusResponseSchema.parse(res.body);
      expect(body.backup).toMatchObject({ status: "never_run", lastBackup: null });
      expect(body.currentStats.members).toEqual({ firestore: 0, api: null, missing: null });
      expect(Object.keys(res.body as object)).toEqual([
        "backup",
        "currentStats",
        "syncHealth",
        "lastChecked",
        "alerts",
        "metrics",
        "freshness",
        "webhooks",
        "incrementalSync",
        "schemaDrift",
      ]);
    });

    it("after a run: the design document's example, field for field", async () => {
      const db = createTestFirestore("http-design");
      try {
        await seedDesignExample(db.db, new Date("2024-01-15T10:00:00Z"));
        const res = await call(request(makeApp(db.db)).get(STATUS).set(bearer(STATUS_TOKEN)));
        expect(res.status).toBe(200);
        const body = res.body as BackupStatusResponse;
        // The design document's response, with ISO 8601 UTC times.
        expect({
          backup: {
            lastBackup: body.backup.lastBackup,
            status: body.backup.status,
            missingRecords: body.backup.missingRecords,
          },
          currentStats: body.currentStats,
          syncHealth: body.syncHealth,
          lastChecked: body.lastChecked,
        }).toEqual({
          backup: {
            lastBackup: "2024-01-15T10:00:00.000Z",
            status: "completed",
            missingRecords: 0,
          },
          // The design's response, then the design's next types.
          currentStats: {
            members: { firestore: 150, api: 150, missing: 0 },
            opportunities: { firestore: 75, api: 75, missing: 0 },
            companies: { firestore: 25, api: 25, missing: 0 },
            locations: { firestore: 0, api: 0, missing: 0 },
            events: { firestore: 0, api: 0, missing: 0 },
            bookings: { firestore: 0, api: 0, missing: 0 },
          },
          syncHealth: {
            members: "healthy",
            opportunities: "healthy",
            companies: "healthy",
            locations: "healthy",
            events: "healthy",
            bookings: "healthy",
          },
          lastChecked: "2024-01-15T14:30:00.000Z",
        });
        expect(body.alerts).toEqual([]);
        expect(() => backupStatusResponseSchema.parse(body)).not.toThrow();
      } finally {
        await db.close();
      }
    });

    it("serves alerts through the API (failed run)", async () => {
      const db = createTestFirestore("http-alerts");
      try {
        await writeRuns(db.db, [
          makeRun({
            label: "bad",
            finishedAt: hoursBefore(NOW, 1),
            status: "failed",
            lastCompletedAt: hoursBefore(NOW, 20),
          }),
        ]);
        const res = await call(request(makeApp(db.db)).get(STATUS).set(bearer(STATUS_TOKEN)));
        const body = backupStatusResponseSchema.parse(res.body);
        expect(body.alerts.map((a) => a.code)).toEqual(["backup_failed"]);
      } finally {
        await db.close();
      }
    });

    it("sets security headers, no-store and a request id; no X-Powered-By", async () => {
      const res = await call(request(app).get(STATUS).set(bearer(STATUS_TOKEN)));
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["content-security-policy"]).toBe(
        "default-src 'none';frame-ancestors 'none'",
      );
      expect(res.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
      expect(res.headers["x-frame-options"]).toBe("SAMEORIGIN");
      expect(res.headers["x-powered-by"]).toBeUndefined();
      expect(res.headers["etag"]).toBeUndefined();
      expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("accepts an admin ID token and a lower-case scheme; HEAD works", async () => {
      expect((await call(request(app).get(STATUS).set(bearer(ADMIN_ID_TOKEN)))).status).toBe(200);
      const lower = await call(
        request(app).get(STATUS).set("Authorization", `bearer ${STATUS_TOKEN}`),
      );
      expect(lower.status).toBe(200);
      const head = await call(request(app).head(STATUS).set(bearer(STATUS_TOKEN)));
      expect(head.status).toBe(200);
      expect(head.text ?? "").toBe("");
    });

    it("ignores a query string (no input) and never logs it", async () => {
      const res = await call(
        request(app).get(`${STATUS}?token=${STATUS_TOKEN}&_=1`).set(bearer(STATUS_TOKEN)),
      );
      expect(res.status).toBe(200);
      const entry = logs.entries.filter((e) => e.event === "http_request").at(-1);
      expect(entry).toMatchObject({ method: "GET", path: STATUS, status: 200 });
    });
  });

  describe("authentication failures: 401, JSON, WWW-Authenticate", () => {
    const cases: [string, Record<string, string>][] = [
      ["missing header", {}],
      ["empty header", { Authorization: "" }],
      ["wrong scheme (Basic)", { Authorization: `Basic ${STATUS_TOKEN}` }],
      ["token without scheme", { Authorization: STATUS_TOKEN }],
      ["Bearer without token", { Authorization: "Bearer " }],
      ["Bearer with two tokens", { Authorization: `Bearer ${STATUS_TOKEN} extra` }],
      ["wrong token, same length", bearer(STATUS_TOKEN.slice(0, -1) + "x")],
      ["wrong token, other length", bearer("nope")],
      ["status token as a prefix", bearer(`${STATUS_TOKEN}0`)],
      ["ID token without admin claim", bearer(USER_ID_TOKEN)],
      ["expired ID token", bearer(EXPIRED_ID_TOKEN)],
      ["forged ID token", bearer(FORGED_ID_TOKEN)],
    ];
    it.each(cases)("%s", async (_name, headers) => {
      for (const path of [STATUS, BACKUPS]) {
        const res = await call(request(app).get(path).set(headers));
        expectJsonError(res, 401, "unauthorized");
        expect(res.headers["www-authenticate"]).toBe(REALM_HEADER);
        expect(res.headers["cache-control"]).toBe("no-store");
      }
    });

    it("logs each refusal with a reason code and without the credential", () => {
      const reasons = logs.entries
        .filter((e) => e.event === "http_auth_rejected")
        .map((e) => e.reason as string);
      expect(new Set(reasons)).toEqual(
        new Set([
          "missing_credentials",
          "wrong_scheme",
          "malformed_credentials",
          "invalid_token",
          "id_token_not_admin",
          "id_token_rejected:auth/id-token-expired",
          "id_token_rejected:auth/invalid-id-token",
        ]),
      );
    });

    it("a verifier that cannot check tokens is a 500 with a request id, not a leak", async () => {
      const res = await call(request(app).get(STATUS).set(bearer(UNCHECKABLE_ID_TOKEN)));
      expectJsonError(res, 500, "auth_unavailable");
      expect(res.body).toEqual({
        error: {
          code: "auth_unavailable",
          message: expect.stringContaining("cannot be checked right now") as string,
          requestId: res.headers["x-request-id"] as string,
        },
      });
      const logged = logs.entries.find(
        (e) => e.event === "http_auth_unavailable" && e.requestId === res.headers["x-request-id"],
      );
      expect(logged?.error).toContain("EAI_AGAIN");
      expect(logged?.error).toContain("[redacted]");
    });
  });

  describe("GET /v1/office-rnd/backups", () => {
    let runsApp: Express;
    let runsDb: TestFirestore;
    const runs = Array.from({ length: 25 }, (_, i) =>
      makeRun({
        label: `run-${String(i).padStart(2, "0")}`,
        finishedAt: hoursBefore(NOW, 25 - i),
        status: i % 5 === 4 ? "failed" : "completed",
      }),
    );
    beforeAll(async () => {
      runsDb = createTestFirestore("http-runs");
      runsApp = makeApp(runsDb.db);
      await writeRuns(runsDb.db, runs);
    });
    afterAll(() => runsDb.close());

    it("lists recent runs newest first, 20 by default", async () => {
      const res = await call(request(runsApp).get(BACKUPS).set(bearer(STATUS_TOKEN)));
      expect(res.status).toBe(200);
      const body = backupRunsResponseSchema.parse(res.body);
      expect(body.limit).toBe(20);
      expect(body.runs.map((r) => r.runId)).toEqual(
        runs
          .slice(5)
          .reverse()
          .map((r) => r.runId),
      );
      expect(body.runs[0]).toMatchObject({
        status: "failed",
        error: { code: "server", message: "OfficeRnD companies read failed" },
        resources: { members: { firestore: 150, api: 150, missing: 0, guarded: false } },
      });
    });

    it("honours ?limit=N within 1..100", async () => {
      for (const [limit, expected] of [
        ["1", 1],
        ["3", 3],
        ["100", 25],
        ["007", 7],
      ] as const) {
        const res = await call(
          request(runsApp).get(`${BACKUPS}?limit=${limit}`).set(bearer(ADMIN_ID_TOKEN)),
        );
        expect(res.status).toBe(200);
        expect(backupRunsResponseSchema.parse(res.body).runs).toHaveLength(expected);
      }
    });

    it.each([
      ["0", "limit=0"],
      ["101", "limit=101"],
      ["not a number", "limit=abc"],
      ["a fraction", "limit=1.5"],
      ["negative", "limit=-1"],
      ["empty", "limit="],
      ["huge", "limit=99999999999999999999"],
      ["repeated", "limit=1&limit=2"],
      ["bracketed", "limit[]=1"],
      ["unknown parameter", "limt=5"],
    ])("400 on a malformed limit: %s", async (_name, query) => {
      const res = await call(request(runsApp).get(`${BACKUPS}?${query}`).set(bearer(STATUS_TOKEN)));
      expectJsonError(res, 400, "invalid_request");
    });

    it("checks credentials before input", async () => {
      const res = await call(request(runsApp).get(`${BACKUPS}?limit=0`));
      expectJsonError(res, 401, "unauthorized");
    });
  });

  describe("POST /v1/office-rnd/backup", () => {
    beforeEach(() => {
      starts.length = 0;
      nextStart = { busy: false, runId: "r-1" };
    });

    it("202 with the run id for an admin; the engine gets trigger manual and who asked", async () => {
      nextStart = { busy: false, runId: "manual-2024-01-15" };
      const res = await call(request(app).post(START).set(bearer(ADMIN_ID_TOKEN)));
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ runId: "manual-2024-01-15" });
      expect(starts).toEqual([{ trigger: "manual", requestedBy: "admin:admin-1" }]);
      const entry = logs.entries.filter((e) => e.event === "http_request").at(-1);
      expect(entry).toMatchObject({ path: START, status: 202, principal: "admin:admin-1" });
    });

    it("409 while a run holds the lock, with its id and lease expiry", async () => {
      nextStart = {
        busy: true,
        heldBy: "schedule-xyz",
        expiresAt: new Date("2024-01-15T14:40:00Z"),
      };
      const res = await call(
        request(app)
          .post(START)
          .set(bearer(ADMIN_ID_TOKEN))
          .set("Content-Type", "application/json")
          .send("{ not json"),
      );
      expectJsonError(res, 409, "backup_in_progress");
      expect(res.body).toEqual({
        error: {
          code: "backup_in_progress",
          message: "backup run schedule-xyz is in progress",
          runId: "schedule-xyz",
          expiresAt: "2024-01-15T14:40:00.000Z",
        },
      });
    });

    it("401 without credentials or with a non-admin ID token; nothing started", async () => {
      for (const headers of [{}, bearer(USER_ID_TOKEN), bearer("wrong")]) {
        const res = await call(request(app).post(START).set(headers));
        expectJsonError(res, 401, "unauthorized");
        expect(res.headers["www-authenticate"]).toBe(REALM_HEADER);
      }
      expect(starts).toEqual([]);
    });

    it("403 for the status token: it reads, it does not start runs", async () => {
      const res = await call(request(app).post(START).set(bearer(STATUS_TOKEN)));
      expectJsonError(res, 403, "forbidden");
      expect(starts).toEqual([]);
    });

    it("503 when this server has no manual trigger configured", async () => {
      const res = await call(
        request(makeApp(fs.db, false)).post(START).set(bearer(ADMIN_ID_TOKEN)),
      );
      expectJsonError(res, 503, "manual_backup_unavailable");
    });

    it("500 says only 'internal error' and a request id when the engine throws", async () => {
      nextStart = new Error(`lock transaction failed; token=${STATUS_TOKEN} at /srv/x.ts:12`);
      const res = await call(request(app).post(START).set(bearer(ADMIN_ID_TOKEN)));
      const logged = expectInternalError(res);
      expect(logged?.error).toBe(
        "Error: lock transaction failed; token=[redacted] at /srv/x.ts:12",
      );
    });
  });

  describe("extra routes (room for the webhook route)", () => {
    const received: Buffer[] = [];
    let extended: Express;
    beforeAll(() => {
      extended = createApp(
        {
          db: fs.db,
          status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
          verifyIdToken: fakeVerifyIdToken,
        },
        {
          routes: [
            {
              path: "/v1/test/raw",
              methods: {
                POST: [
                  express.raw({ type: "*/*", limit: "1kb" }),
                  (req, res) => {
                    received.push(req.body as Buffer);
                    res.status(204).end();
                  },
                ],
              },
            },
            {
              path: "/v1/test/json",
              methods: { POST: [express.json({ limit: "1kb" }), (_req, res) => res.json({})] },
            },
          ],
        },
      );
    });

    it("gets the raw bytes exactly as sent (no app-wide body parser)", async () => {
      const body = '{ "b":1,  "a":"\u00e9",\n"z":[ ] }';
      const res = await call(
        request(extended).post("/v1/test/raw").set("Content-Type", "application/json").send(body),
      );
      expect(res.status).toBe(204);
      expect(received.at(-1)?.toString("utf8")).toBe(body);
    });

    it("gets OPTIONS/405 with Allow, and JSON errors from its body parser", async () => {
      const wrong = await call(request(extended).get("/v1/test/raw"));
      expectJsonError(wrong, 405, "method_not_allowed");
      expect(wrong.headers["allow"]).toBe("POST, OPTIONS");

      const malformed = await call(
        request(extended)
          .post("/v1/test/json")
          .set("Content-Type", "application/json")
          .send("{ nope"),
      );
      expectJsonError(malformed, 400, "bad_request");
      expect(malformed.body).toEqual({
        error: { code: "bad_request", message: "malformed request" },
      });

      const large = await call(
        request(extended)
          .post("/v1/test/raw")
          .set("Content-Type", "application/octet-stream")
          .send(Buffer.alloc(4096)),
      );
      expectJsonError(large, 413, "payload_too_large");
    });
  });

  describe("routing errors", () => {
    it.each([
      ["/"],
      ["/v1"],
      ["/v1/office-rnd"],
      ["/v1/office-rnd/backup-status/extra"],
      ["/v1/office-rnd/members"],
      ["/v2/office-rnd/backup-status"],
    ])("404 JSON for %s", async (path) => {
      const res = await call(request(app).get(path).set(bearer(STATUS_TOKEN)));
      expectJsonError(res, 404, "not_found");
      expect(res.headers["cache-control"]).toBe("no-store");
    });

    it.each([
      ["post", STATUS, "GET, HEAD, OPTIONS"],
      ["delete", STATUS, "GET, HEAD, OPTIONS"],
      ["put", BACKUPS, "GET, HEAD, OPTIONS"],
      ["get", START, "POST, OPTIONS"],
      ["patch", START, "POST, OPTIONS"],
    ] as const)("405 with Allow: %s %s", async (method, path, allow) => {
      const res = await call(request(app)[method](path));
      expectJsonError(res, 405, "method_not_allowed");
      expect(res.headers["allow"]).toBe(allow);
    });

    it("OPTIONS answers 204 with Allow", async () => {
      const res = await call(request(app).options(START));
      expect(res.status).toBe(204);
      expect(res.headers["allow"]).toBe("POST, OPTIONS");
    });

    it("a malformed path encoding is an unknown route: 404 JSON", async () => {
      for (const path of ["/v1/office-rnd/%E0%A4%A", "/v1/office-rnd/backup-status%"]) {
        const res = await call(request(app).get(path).set(bearer(STATUS_TOKEN)));
        expectJsonError(res, 404, "not_found");
      }
    });

    it("trailing slash and case are the same route", async () => {
      const res = await call(
        request(app).get("/v1/office-rnd/Backup-Status/").set(bearer(STATUS_TOKEN)),
      );
      expect(res.status).toBe(200);
    });
  });

  it("logs every request once with method, path, status and duration, never a header", () => {
    const requests = logs.entries.filter((e) => e.event === "http_request");
    expect(requests.length).toBe(seen.length);
    for (const entry of requests) {
      expect(Object.keys(entry).sort()).toEqual(
        expect.arrayContaining(["method", "path", "status", "durationMs", "requestId"]),
      );
      expect(typeof entry.durationMs).toBe("number");
      expect(String(entry.path)).not.toContain("?");
    }
  });
});
